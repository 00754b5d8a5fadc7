"""Bulk import of volunteers: CSV and XLSX files, dry runs, duplicates, scope, page and CLI."""

import csv
import io
from datetime import date

import openpyxl
import pytest
import sqlalchemy as sa

from tests import factories
from tests.conftest import login
from timebank.audit.models import AuditEvent
from timebank.auth.models import UNUSABLE_PASSWORD, Role, User
from timebank.core.security import SYSTEM
from timebank.extensions import db
from timebank.organizations.models import Membership
from timebank.regions.services import create_region
from timebank.volunteers import identity, services
from timebank.volunteers.import_rows import template_workbook
from timebank.volunteers.imports import import_volunteers
from timebank.volunteers.models import Volunteer
from timebank.volunteers.sheets import FileRefused

HEADER = ["姓名", "证件号码", "手机号", "社区", "队伍", "技能", "服务时间"]
PHONE_REASON = "请输入11位中国大陆手机号。"  # validate_phone's message, in Chinese


def person(n: int, **cells) -> dict:
    row = {
        "姓名": f"志愿者{n}",
        "证件号码": factories.resident_id("19900101", n),
        "手机号": f"137{n:08d}",
        "社区": "东一社区",
    }
    row.update(cells)
    return row


def id_ending_in_x() -> str:
    return next(
        number
        for serial in range(1, 1000)
        if (number := factories.resident_id("19851203", serial)).endswith("X")
    )


def born_years_ago(years: int) -> str:
    today = services.today()
    return date(today.year - years, today.month, min(today.day, 28)).strftime("%Y%m%d")


def csv_file(rows, header=HEADER, encoding="utf-8-sig") -> io.BytesIO:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header])
    return io.BytesIO(text.getvalue().encode(encoding))


def xlsx_file(rows, header=HEADER, *, sheets=1, formula_at=None) -> io.BytesIO:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append([row.get(name) for name in header])
    if formula_at:
        sheet[formula_at] = "=1+1"
    for n in range(1, sheets):
        workbook.create_sheet(f"Sheet{n + 1}")
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    return buffer


def run(actor, file, *, filename="list.csv", **options):
    options.setdefault("commit", db.session.commit)
    return import_volunteers(actor, file, filename=filename, **options)


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def imported():
    return db.session.scalars(sa.select(Volunteer).filter_by(source="import")).all()


# -- checking ----------------------------------------------------------------------------


def test_dry_run_lists_every_bad_row_in_chinese_and_stores_nothing(ctx, places, people):
    before = (count(User), count(Volunteer), count(AuditEvent))
    wrong_digit = factories.resident_id("19900101", 3)[:-1] + "0"
    if wrong_digit == factories.resident_id("19900101", 3):
        wrong_digit = wrong_digit[:-1] + "1"
    file = csv_file(
        [
            person(1),
            person(2, 手机号="12345"),
            person(3, 证件号码=wrong_digit),
            person(4, 社区="北一社区"),
            person(5, 姓名=""),
            person(6),
        ]
    )
    result = run(SYSTEM, file, dry_run=True)
    assert (result.read, result.added, result.skipped, result.rejected) == (6, 2, 0, 4)
    where = [(p.line, p.column) for p in result.problems]
    assert where == [(3, "手机号"), (4, "证件号码"), (5, "社区"), (6, "姓名")]
    assert result.problems[0].reason == PHONE_REASON
    assert "北一社区" in result.problems[2].reason
    assert (count(User), count(Volunteer), count(AuditEvent)) == before


def test_a_row_with_several_bad_cells_names_them_all_on_one_line(ctx, places):
    file = csv_file([person(1, 手机号="12345", 证件号码="1234")])
    result = run(SYSTEM, file, dry_run=True)
    assert result.rejected == 1
    [problem] = result.problems
    assert (problem.line, problem.column) == (2, "证件号码、手机号")
    assert PHONE_REASON in problem.reason and "18" in problem.reason


def test_gbk_csv_from_excel_is_read(ctx, places):
    file = csv_file([person(1, 技能="急救、陪伴老人"), person(2)], encoding="gbk")
    result = run(SYSTEM, file)
    assert (result.added, result.rejected) == (2, 0)
    names = {v.user.name for v in imported()}
    assert names == {"志愿者1", "志愿者2"}
    assert {v.skills for v in imported()} == {"急救,陪伴老人", ""}


def test_headers_tolerate_spaces_synonyms_and_a_title_row(ctx, places):
    text = "东一社区志愿者名单\n 姓 名 ,身份证号,手机号码（必填）,所属社区,备注\n"
    row = person(1)
    text += f"{row['姓名']},{row['证件号码']},{row['手机号']},东一社区,老队员\n"
    result = run(SYSTEM, io.BytesIO(text.encode("utf-8")))
    assert (result.read, result.added) == (1, 1)
    assert result.ignored_columns == ["备注"]


# -- importing ---------------------------------------------------------------------------


def test_import_adds_people_without_a_password_and_a_second_run_adds_nothing(ctx, places, people):
    rows = [
        person(1, 队伍="东街服务队", 技能="急救", 服务时间="周末"),
        person(2, 社区="东街街道/东一社区"),
        person(3, 手机号="1"),
    ]
    report = io.StringIO()
    result = run(people.east_admin, xlsx_file(rows), filename="list.xlsx", report=report)
    assert (result.read, result.added, result.skipped, result.rejected) == (3, 2, 0, 1)

    volunteers = sorted(imported(), key=lambda v: v.user.name)
    assert [v.user.name for v in volunteers] == ["志愿者1", "志愿者2"]
    first = volunteers[0]
    assert (first.status, first.source, first.region_id) == ("pending", "import", places.east_c.id)
    assert (first.skills, first.availability) == ("急救", "周末")
    assert first.birth_date == date(1990, 1, 1)
    assert identity.decrypt(first.document_cipher) == rows[0]["证件号码"]
    assert first.consent_version == f"import:{result.audit_event_id}"
    user = first.user
    assert user.region_id == places.east_c.id and user.has_role(Role.VOLUNTEER)
    assert user.password_hash == UNUSABLE_PASSWORD
    assert not user.check_password("") and not user.check_password(UNUSABLE_PASSWORD)
    assert db.session.scalar(
        sa.select(Membership.id).filter_by(user_id=user.id, organization_id=places.east_team.id)
    )

    # One audit event when the file starts and one when it ends, not one per row.
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.action.startswith("volunteer.import"))
    ).all()
    assert sorted(actions) == ["volunteer.import", "volunteer.import.finish"]
    start = db.session.get(AuditEvent, result.audit_event_id)
    assert start.actor_id == people.east_admin.id and start.detail["file"] == "list.xlsx"
    assert start.region_path == places.east.path

    lines = list(csv.reader(io.StringIO(report.getvalue())))
    assert lines[1][:2] == ["4", "手机号"] and lines[1][2] == PHONE_REASON
    assert lines[1][4] == "*" * 14 + rows[2]["证件号码"][-4:]
    for row in rows:
        assert row["证件号码"] not in report.getvalue()

    again = run(people.east_admin, xlsx_file(rows), filename="list.xlsx")
    assert (again.added, again.skipped, again.rejected) == (0, 2, 1)
    assert len(imported()) == 2


def test_minors_need_guardian_consent_as_in_registration(ctx, places):
    sixteen = factories.resident_id(born_years_ago(16), 11)
    twelve = factories.resident_id(born_years_ago(12), 12)
    header = [*HEADER, "监护人同意", "监护人姓名", "监护人电话"]
    rows = [
        person(1, 证件号码=sixteen),
        person(2, 证件号码=sixteen, 监护人同意="是"),
        person(3, 证件号码=twelve, 监护人同意="是"),
        person(4, 证件号码=twelve, 监护人同意="是", 监护人姓名="王父", 监护人电话="13600000009"),
        person(5, 证件号码=factories.resident_id(born_years_ago(30), 13), 监护人同意="也许"),
    ]
    result = run(SYSTEM, csv_file(rows, header))
    assert [(p.line, p.column) for p in result.problems] == [
        (2, "监护人同意"),
        (4, "监护人姓名、监护人电话"),  # every missing detail, on one line
        (6, "监护人同意"),
    ]
    assert result.added == 2
    child = next(v for v in imported() if v.guardian_name)
    assert (child.guardian_name, child.guardian_phone) == ("王父", "13600000009")
    assert child.guardian_consent_at is not None


def test_other_documents_need_birth_date_and_type_names(ctx, places):
    header = ["姓名", "证件类型", "证件号码", "手机号", "社区", "出生日期", "性别"]
    rows = [
        person(1, 证件类型="护照", 证件号码="E12345678", 出生日期="1970/5/4", 性别="女"),
        person(2, 证件类型="护照", 证件号码="E12345679"),
        person(3, 证件类型="驾驶证"),
        person(4, 证件类型="港澳通行证", 证件号码="H12345678", 出生日期="1980年2月30日"),
        person(5, 证件类型="身份证", 出生日期="1991-01-01"),
    ]
    result = run(SYSTEM, csv_file(rows, header))
    assert [(p.line, p.column) for p in result.problems] == [
        (3, "出生日期"),
        (4, "证件类型"),
        (5, "出生日期"),
        (6, "出生日期"),  # does not match the birth date inside the ID number
    ]
    passport = imported()[0]
    assert (passport.document_type, passport.birth_date, passport.gender) == (
        "passport",
        date(1970, 5, 4),
        "female",
    )


def test_duplicates_inside_the_file_and_phones_already_used(ctx, places, people):
    number = id_ending_in_x()
    rows = [
        person(1, 证件号码=number),
        person(2, 证件号码=number.lower()),  # 'x' and 'X' are one number
        person(3, 手机号=person(1)["手机号"]),
        person(4, 手机号=people.volunteer.phone),  # 张三 has this mobile number
    ]
    result = run(SYSTEM, csv_file(rows), batch_size=2)  # duplicates across batches too
    problems = [(p.line, p.column) for p in result.problems]
    assert problems == [(3, "证件号码"), (4, "手机号"), (5, "手机号")]
    assert "2" in result.problems[0].reason  # names the line it repeats
    assert result.added == 1


def test_an_id_already_registered_is_skipped_not_refused(ctx, places):
    factories.volunteer(places.east_c, document_number=person(1)["证件号码"])
    result = run(SYSTEM, csv_file([person(1), person(2)]))
    assert (result.added, result.skipped, result.rejected) == (1, 1, 0)


def test_an_xlsx_id_typed_as_a_number_is_refused_with_the_reason(ctx, places):
    rows = [person(1, 证件号码=110105199001010000.0, 手机号=13700000001)]
    result = run(SYSTEM, xlsx_file(rows), filename="list.xlsx")
    assert result.problems[0].column == "证件号码"
    assert "text" in result.problems[0].reason or "文本" in result.problems[0].reason


# -- whole files refused -----------------------------------------------------------------


def _garbage(_rows):
    return io.BytesIO(b"PK\x03\x04 this is not a workbook at all")


@pytest.mark.parametrize(
    ("build", "filename", "options"),
    [
        (lambda rows: xlsx_file(rows, formula_at="B3"), "list.xlsx", {}),
        (lambda rows: xlsx_file(rows, sheets=2), "list.xlsx", {}),
        (_garbage, "list.xlsx", {}),
        (lambda rows: io.BytesIO(b"not a zip"), "list.xlsx", {}),
        (lambda rows: io.BytesIO(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old"), "list.xls", {}),
        (lambda rows: csv_file(rows, header=["姓名", "手机号", "社区"]), "list.csv", {}),
        (lambda rows: csv_file(rows), "list.csv", {"max_bytes": 100}),
        (lambda rows: csv_file(rows), "list.csv", {"max_rows": 1}),
        (lambda rows: io.BytesIO(b""), "list.csv", {}),
        (lambda rows: io.BytesIO("姓名,身份证号\n".encode() + b"\xff\xfe\xfa\n"), "x.csv", {}),
    ],
    ids=[
        "formula",
        "two-sheets",
        "bad-zip",
        "not-a-zip",
        "old-xls",
        "missing-column",
        "too-large",
        "too-many-rows",
        "empty",
        "unknown-encoding",
    ],
)
def test_files_that_cannot_be_imported_are_refused_whole(ctx, places, build, filename, options):
    events = count(AuditEvent)
    with pytest.raises(FileRefused) as refused:
        run(SYSTEM, build([person(1), person(2)]), filename=filename, **options)
    assert refused.value.field == "file" and str(refused.value)
    assert count(Volunteer) == 0 and count(AuditEvent) == events


def test_a_formula_is_named_by_its_cell(ctx, places):
    with pytest.raises(FileRefused) as refused:
        run(SYSTEM, xlsx_file([person(1), person(2)], formula_at="C3"), filename="a.xlsx")
    assert "C3" in str(refused.value)


def test_a_missing_column_is_named(ctx, places):
    with pytest.raises(FileRefused) as refused:
        run(SYSTEM, csv_file([person(1)], header=["姓名", "证件号码", "社区"]))
    assert "手机号" in str(refused.value)


# -- where people may be imported --------------------------------------------------------


def test_ambiguous_community_names_take_the_street(ctx, places):
    create_region(SYSTEM, name="东一社区", parent=places.west)
    db.session.commit()
    rows = [person(1), person(2, 社区="西街街道 / 东一社区"), person(3, 社区="东街街道／东一社区")]
    result = run(SYSTEM, csv_file(rows))
    assert [(p.line, p.column) for p in result.problems] == [(2, "社区")]
    assert "东街街道/东一社区" in result.problems[0].reason
    assert result.added == 2


def test_station_staff_import_only_into_their_community(ctx, places, people):
    rows = [
        person(1),
        person(2, 社区="西一社区"),
        person(3, 队伍="东街服务队"),  # a street-level team staff do not lead
    ]
    result = run(people.east_staff, csv_file(rows))
    assert [(p.line, p.column) for p in result.problems] == [(3, "社区"), (4, "队伍")]
    assert [v.region_id for v in imported()] == [places.east_c.id]
    limited = run(SYSTEM, csv_file([person(5, 社区="西一社区")]), region=places.east)
    assert limited.rejected == 1


# -- the upload page ---------------------------------------------------------------------


def upload(client, file, name="list.xlsx", action="check", consent=False):
    data = {"file": (file, name), action: "1"}
    if consent:
        data["consent"] = "y"
    return client.post("/staff/volunteers/import", data=data, content_type="multipart/form-data")


def test_staff_check_then_import_through_the_page(client, places, people):
    login(client, "eaststaff")
    page = client.get("/staff/volunteers/import").data.decode()
    assert "/staff/volunteers/import/template.xlsx" in page
    template = client.get("/staff/volunteers/import/template.xlsx")
    assert template.status_code == 200 and template.data.startswith(b"PK")
    rows = [person(1), person(2, 手机号="12345"), person(3, 社区="西一社区")]

    checked = upload(client, xlsx_file(rows)).data.decode()
    assert PHONE_REASON in checked and "西一社区" in checked
    assert '<td class="num">3</td>' in checked and '<td class="num">4</td>' in checked
    with client.application.app_context():
        assert count(Volunteer) == 0

    refused = upload(client, xlsx_file(rows), action="submit")
    assert refused.status_code == 200
    with client.application.app_context():
        assert count(Volunteer) == 0

    done = upload(client, xlsx_file(rows), action="submit", consent=True).data.decode()
    with client.application.app_context():
        assert count(Volunteer) == 1
    link = done.split('href="/staff/volunteers/import/reports/')[1].split('"')[0]
    report = client.get(f"/staff/volunteers/import/reports/{link}")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    text = report.data.decode("utf-8-sig")
    assert PHONE_REASON in text
    for row in rows:
        assert (
            row["证件号码"] not in text
            and row["证件号码"] not in done
            and row["证件号码"] not in checked
        )

    other = client.application.test_client()
    login(other, "eastadmin")  # someone else's report is not found
    assert other.get(f"/staff/volunteers/import/reports/{link}").status_code == 404


def test_the_page_refuses_oversized_uploads_and_volunteers(
    client, app, places, people, monkeypatch
):
    volunteer = app.test_client()
    login(volunteer, "13900000001")  # a volunteer, not staff
    assert volunteer.get("/staff/volunteers/import").status_code == 403
    login(client, "eaststaff")
    monkeypatch.setitem(app.config, "IMPORT_UPLOAD_MAX_BYTES", 2000)
    big = csv_file([person(n) for n in range(1, 60)]).getvalue()
    response = upload(client, io.BytesIO(big), name="big.csv")  # caught when the file is read
    assert 'class="error"' in response.data.decode()
    huge = io.BytesIO(big + b"\n" * 100_000)
    response = upload(client, huge, name="huge.csv")  # refused before the body is read
    assert response.status_code == 413 and 'class="error"' in response.data.decode()
    with client.application.app_context():
        assert count(Volunteer) == 0


def test_the_template_is_an_importable_header(ctx, places):
    workbook = openpyxl.load_workbook(io.BytesIO(template_workbook()))
    header = [cell.value for cell in workbook.active[1]]
    assert header[:5] == ["姓名", "证件类型", "证件号码", "手机号", "社区"]
    result = run(SYSTEM, io.BytesIO(template_workbook()), filename="t.xlsx", dry_run=True)
    assert result.read == 0


# -- the command line --------------------------------------------------------------------


def test_cli_checks_then_imports_with_a_report(app, places, tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(csv_file([person(1), person(2, 手机号="12345")]).getvalue())
    runner = app.test_cli_runner()

    checked = runner.invoke(args=["volunteers", "import", str(path), "--dry-run"])
    assert checked.exit_code == 1, checked.output
    assert PHONE_REASON in checked.output and "手机号" in checked.output
    assert "1" in checked.output  # one row would be added

    report = tmp_path / "rejected.csv"
    done = runner.invoke(args=["volunteers", "import", str(path), "--report", str(report)])
    assert done.exit_code == 0, done.output
    assert str(report) in done.output
    text = report.read_text(encoding="utf-8-sig")
    assert PHONE_REASON in text and person(2)["证件号码"] not in text
    with app.app_context():
        assert count(Volunteer) == 1

    again = runner.invoke(args=["volunteers", "import", str(path), "--report", str(report)])
    assert again.exit_code == 0
    with app.app_context():
        assert count(Volunteer) == 1

    missing = runner.invoke(args=["volunteers", "import", str(path), "--region-id", "999999"])
    assert missing.exit_code != 0
