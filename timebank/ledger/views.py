"""Pages: my hours and points, staff batch allocation, administrators' statements and reversals."""

import hashlib
import re
from dataclasses import dataclass
from types import SimpleNamespace

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, format_number, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required

from timebank.auth.models import Role, User
from timebank.auth.services import find_by_login
from timebank.core.db import utcnow
from timebank.core.errors import DomainError, ValidationFailed
from timebank.core.forms import options
from timebank.core.security import in_admin_scope, requires
from timebank.extensions import db
from timebank.ledger import services
from timebank.ledger.exports import (
    csv_response,
    describe,
    format_amount,
    format_duration,
    statement_query,
    xlsx_response,
)
from timebank.ledger.forms import (
    KEY_RE,
    MAX_BATCH_LINES,
    AllocationForm,
    ConvertForm,
    DonateForm,
    FamilyForm,
    GiftForm,
    PeriodForm,
    ReversalForm,
    relation_label,
)
from timebank.ledger.models import (
    Account,
    AccountKind,
    Currency,
    FamilyLink,
    Transaction,
    TransactionKind,
)
from timebank.ledger.services import IdempotencyConflict
from timebank.regions.models import Region

bp = Blueprint("ledger", __name__)

PER_PAGE = 20
BOOKS = {"hours": AccountKind.HOURS, "points": AccountKind.POINTS}
EXPORTS = ("csv", "xlsx")


@bp.app_template_filter("duration")
def duration_filter(minutes, signed=False):
    return format_duration(minutes, signed)


@bp.app_template_filter("number")
def number_filter(value):
    return format_number(value)


@bp.app_template_filter("amount")
def amount_filter(amount, currency, signed=False):
    return format_amount(amount, currency, signed)


# -- reading accounts without opening them -------------------------------------------------
# Pages only read: an account is opened by the first posting, never by a GET.


def account_label(account: Account) -> str:
    owner = account.user.name if account.user_id else account.region.name
    label = f"{owner} · {account.kind_enum.label}"
    if account.kind == AccountKind.CONVERSION:
        unit = _("minutes") if account.currency == Currency.MINUTES else _("points")
        label += f" ({unit})"
    return label


def region_label(region: Region) -> str:
    return f"{region.parent.name} · {region.name}" if region.parent else region.name


# -- statements ---------------------------------------------------------------------------


@dataclass
class Statement:
    account: Account | None
    period: PeriodForm
    page: object  # a Flask-SQLAlchemy Pagination, or None without an account
    rows: list
    base: dict  # what the page's links always carry: the account or the book

    @property
    def filtered(self) -> bool:
        return bool(self.period.start.data or self.period.end.data) and not self.period.errors

    @property
    def args(self) -> dict:
        """The page's arguments and the period, for the pager and the export links."""
        if not self.filtered:
            return dict(self.base)
        period = {
            name: getattr(self.period, name).data.isoformat()
            for name in ("start", "end")
            if getattr(self.period, name).data
        }
        return {**self.base, **period}


def statement(account: Account | None, base: dict, *, with_reversals: bool = False) -> Statement:
    period = PeriodForm(request.args)
    period.validate()
    if account is None:
        return Statement(None, period, None, [], base)
    start, end = _period(period)
    page = db.paginate(statement_query(account, start, end), per_page=PER_PAGE, error_out=False)
    reversed_ids = set()
    if with_reversals and page.items:
        ids = [entry.transaction_id for entry in page.items]
        reversed_ids = set(
            db.session.scalars(
                db.select(Transaction.reverses_id).where(Transaction.reverses_id.in_(ids))
            )
        )
    rows = [
        SimpleNamespace(
            entry=entry,
            tx=entry.transaction,
            text=describe(entry),
            reversible=entry.transaction.kind != TransactionKind.REVERSAL
            and entry.transaction_id not in reversed_ids,
            reversed=entry.transaction_id in reversed_ids,
        )
        for entry in page.items
    ]
    return Statement(account, period, page, rows, base)


def _period(period: PeriodForm):
    if period.errors:  # a bad period filters nothing; the error is shown beside it
        return None, None
    return period.start.data, period.end.data


def export(account: Account, fmt: str, filename: str, title: str, with_actor: bool):
    period = PeriodForm(request.args)
    if not period.validate():
        flash(_("Choose a valid period first."), "error")
        return None
    query = statement_query(account, period.start.data, period.end.data)
    stamp = utcnow().strftime("%Y%m%d")
    name = f"{filename}-{stamp}"
    if fmt == "csv":
        return csv_response(account, query, name, with_actor=with_actor)
    return xlsx_response(account, query, name, title, with_actor=with_actor)


# -- my account ---------------------------------------------------------------------------


def _family(user) -> list[FamilyLink]:
    return list(
        db.session.scalars(db.select(FamilyLink).filter_by(user_id=user.id).order_by(FamilyLink.id))
    )


def _bank_page(**given):
    """The account page; a form handed in (with its errors or preview) replaces the blank one."""
    user = current_user._get_current_object()
    book = request.args.get("book", "hours")
    if book not in BOOKS:
        book = "hours"
    hours = services.find_person_account(user, AccountKind.HOURS)
    points = services.find_person_account(user, AccountKind.POINTS)
    home = services.home_of(user)
    rate = services.rate_for(home)
    family = _family(user)
    forms = {
        "convert": given.get("convert") or ConvertForm(prefix="convert", formdata=None),
        "gift": given.get("gift") or GiftForm(prefix="gift", formdata=None),
        "donate": given.get("donate") or DonateForm(prefix="donate", formdata=None),
        "family": given.get("family") or FamilyForm(prefix="family", formdata=None),
    }
    forms["gift"].to_user_id.choices = options(
        (link.relative_id, f"{link.relative.name} ({relation_label(link.relation)})")
        for link in family
    )
    hours_balance = hours.balance if hours else 0
    return render_template(
        "ledger/bank.html",
        hours_balance=hours_balance,
        points_balance=points.balance if points else 0,
        lifetime=services.lifetime_service_minutes(user) if hours else 0,
        home=home,
        rate=rate,
        whole=services.quote_conversion(rate, hours_balance) if rate else None,
        quote=given.get("quote"),
        relatives=family,
        relation_label=relation_label,
        book=book,
        statement=statement(hours if book == "hours" else points, {"book": book}),
        opened=given.get("opened"),
        **forms,
    )


@bp.route("/account/bank")
@login_required
def bank():
    return _bank_page()


@bp.route("/account/bank/statement.<fmt>")
@login_required
def bank_export(fmt: str):
    book = request.args.get("book", "hours")
    if fmt not in EXPORTS or book not in BOOKS:
        abort(404)
    user = current_user._get_current_object()
    account = services.find_person_account(user, BOOKS[book])
    if account is None:
        flash(_("There is nothing to export yet."), "info")
        return redirect(url_for("ledger.bank", book=book))
    title = str(account.kind_enum.label)
    response = export(account, fmt, f"statement-{book}", title, with_actor=False)
    return response or redirect(url_for("ledger.bank", **{**request.args.to_dict(), "book": book}))


def _move(name: str, form, action, done):
    """Post through a service once per rendered form; flash the outcome and redirect."""
    key = f"web:{current_user.id}:{form.key.data}"
    try:
        posted = action(key)
    except IdempotencyConflict:
        db.session.rollback()
        form.renew_key()
        flash(
            _(
                "This form had already been sent with other values, so nothing was moved. "
                "Check the amount and send it again."
            ),
            "error",
        )
        return _bank_page(**{name: form}, opened=name)
    except DomainError as exc:
        db.session.rollback()
        form.fail(exc)
        return _bank_page(**{name: form}, opened=name)
    db.session.commit()
    if posted.replayed:
        flash(_("This was already done; nothing more was moved."), "info")
    else:
        flash(done(posted.transaction), "success")
    return redirect(url_for("ledger.bank"))


def _own_amount(tx: Transaction, user, kind: AccountKind) -> int:
    return sum(
        e.amount for e in tx.entries if e.account.user_id == user.id and e.account.kind == kind
    )


@bp.route("/account/bank/convert", methods=["POST"])
@login_required
def convert():
    user = current_user._get_current_object()
    form = ConvertForm(prefix="convert")
    if not form.validate_on_submit():
        return _bank_page(convert=form, opened="convert")
    if form.preview.data:
        rate = services.rate_for(services.home_of(user))
        if rate is None:
            flash(_("No conversion rate is set for your community yet."), "error")
            return _bank_page(convert=form, opened="convert")
        quote = services.quote_conversion(rate, form.total_minutes)
        return _bank_page(convert=form, quote=quote, opened="convert")

    def done(tx):
        return _(
            "Converted %(spent)s into %(points)s.",
            spent=format_duration(-_own_amount(tx, user, AccountKind.HOURS)),
            points=format_amount(_own_amount(tx, user, AccountKind.POINTS), Currency.POINTS),
        )

    return _move(
        "convert",
        form,
        lambda key: services.convert(user, form.total_minutes, key=key),
        done,
    )


@bp.route("/account/bank/gift", methods=["POST"])
@login_required
def gift():
    user = current_user._get_current_object()
    form = GiftForm(prefix="gift")
    if not form.validate_on_submit():
        return _bank_page(gift=form, opened="gift")
    value = form.to_user_id.data or ""
    relative = db.session.get(User, int(value)) if value.isdigit() else None
    if relative is None:
        form.to_user_id.errors = [_("Choose a family member.")]
        return _bank_page(gift=form, opened="gift")

    def done(tx):
        return _(
            "You gave %(duration)s to %(name)s.",
            duration=format_duration(form.total_minutes),
            name=relative.name,
        )

    return _move(
        "gift",
        form,
        lambda key: services.gift(
            user, relative, form.total_minutes, key=key, memo=form.memo.data or ""
        ),
        done,
    )


@bp.route("/account/bank/donate", methods=["POST"])
@login_required
def donate():
    user = current_user._get_current_object()
    form = DonateForm(prefix="donate")
    if not form.validate_on_submit():
        return _bank_page(donate=form, opened="donate")
    home = services.home_of(user)
    if home is None:
        flash(_("You are not registered in a community yet. Ask your station."), "error")
        return _bank_page(donate=form, opened="donate")

    def done(tx):
        return _(
            "You donated %(duration)s to the public hours pool of %(community)s. Thank you!",
            duration=format_duration(form.total_minutes),
            community=home.name,
        )

    return _move(
        "donate",
        form,
        lambda key: services.donate_to_pool(user, home, form.total_minutes, key=key),
        done,
    )


@bp.route("/account/bank/family", methods=["POST"])
@login_required
def declare_family():
    user = current_user._get_current_object()
    form = FamilyForm(prefix="family")
    if form.validate_on_submit():
        try:
            relative = find_by_login(form.relative.data)
            if relative is None:
                raise ValidationFailed(
                    _("No one is registered with this mobile number or username."),
                    field="relative",
                )
            link = services.declare_family(user, relative, form.relation.data)
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(
                _(
                    "%(name)s is declared as your family member (%(relation)s).",
                    name=relative.name,
                    relation=relation_label(link.relation),
                ),
                "success",
            )
            return redirect(url_for("ledger.bank"))
    return _bank_page(family=form, opened="family")


# -- staff: batch allocation ----------------------------------------------------------------

LINE_SPLIT = re.compile(r"[\s,，;；:：、]+")


def parse_batch(region: Region, text: str) -> tuple[list[SimpleNamespace], list[str]]:
    """Every line as (person, points), or every problem found, each naming its line."""
    lines, problems, seen = [], [], {}
    numbered = [(n, raw.strip()) for n, raw in enumerate(text.splitlines(), 1) if raw.strip()]
    if len(numbered) > MAX_BATCH_LINES:
        return [], [_("At most %(n)d households in one batch.", n=MAX_BATCH_LINES)]
    for number, line in numbered:
        parts = [part for part in LINE_SPLIT.split(line) if part]
        if len(parts) != 2:
            problems.append(
                _(
                    "Line %(n)d: write a mobile number or username, then the points.",
                    n=number,
                )
            )
            continue
        login, amount = parts
        person = find_by_login(login)
        points = int(amount) if amount.isdecimal() else 0
        if points <= 0 or points > services.MAX_AMOUNT:
            problems.append(
                _("Line %(n)d: the points must be a whole number above zero.", n=number)
            )
        if person is None:
            problems.append(
                _("Line %(n)d: no one is registered as %(login)s.", n=number, login=login)
            )
        elif person.id in seen:
            problems.append(
                _(
                    "Line %(n)d: %(login)s is already on line %(first)d.",
                    n=number,
                    login=login,
                    first=seen[person.id],
                )
            )
        elif not services.lives_in(person, region):
            problems.append(
                _(
                    "Line %(n)d: %(login)s does not live in %(region)s.",
                    n=number,
                    login=login,
                    region=region.name,
                )
            )
        else:
            seen[person.id] = number
            lines.append(SimpleNamespace(number=number, person=person, points=points))
    return lines, problems


def _budgets(regions: list[Region]) -> list[SimpleNamespace]:
    budgets = []
    for region in regions:
        account = services.find_region_account(region, AccountKind.ALLOCATION)
        spent = -services.balance_of(account) if account else 0
        budgets.append(SimpleNamespace(region=region, account=account, allocated=spent))
    return budgets


def _allocate_batch(actor, region: Region, lines, form: AllocationForm):
    """Every line in this one database transaction, each once per batch key; or none."""
    batch_key = form.batch_key.data
    try:
        posted = [
            services.allocate(
                actor,
                region,
                line.person,
                line.points,
                key=f"allocation:{batch_key}:{line.person.id}",
                memo=form.memo.data,
            )
            for line in lines
        ]
    except IdempotencyConflict:
        db.session.rollback()
        flash(
            _(
                "This batch was already sent with other lines or another memo, "
                "so nothing more was allocated. Start a new batch."
            ),
            "error",
        )
        return None
    except DomainError as exc:
        db.session.rollback()
        form.fail(exc)
        return None
    db.session.commit()
    fresh = [line for line, p in zip(lines, posted, strict=True) if not p.replayed]
    if fresh:
        flash(
            ngettext(
                "%(points)s allocated to %(num)d household.",
                "%(points)s allocated to %(num)d households.",
                len(fresh),
                points=format_amount(sum(line.points for line in fresh), Currency.POINTS),
            ),
            "success",
        )
    else:
        flash(_("This batch had already been allocated; nothing more was moved."), "info")
    return redirect(url_for("ledger.allocation_batch", batch_key=batch_key))


@bp.route("/staff/allocations", methods=["GET", "POST"])
@requires(Role.STATION_STAFF, Role.ADMIN)
def allocations():
    actor = current_user._get_current_object()
    regions = services.allocation_regions(actor)
    if not regions:
        abort(403)
    form = AllocationForm()
    form.region_id.choices = options((r.id, region_label(r)) for r in regions)
    listed = request.args.get("households", type=int)
    if not form.is_submitted() and listed:
        # "Grant this month's points" from the list of households in difficulty.
        from timebank.stores.services import monthly_batch_lines

        region = next((r for r in regions if r.id == listed), None)
        if region is not None:
            month = format_date(utcnow(), "yyyy-MM")
            form.region_id.data = str(region.id)
            form.lines.data = monthly_batch_lines(region)
            form.memo.data = _("%(month)s support for households in difficulty", month=month)
            # One key per region and month, whoever opens it and however often: the
            # month's points are granted once even from two tabs or by two staff.
            seed = f"households:{region.id}:{month}".encode()
            form.batch_key.data = hashlib.sha256(seed).hexdigest()[:32]
    checked = None
    if form.validate_on_submit():
        region = next((r for r in regions if str(r.id) == form.region_id.data), None)
        lines, problems = parse_batch(region, form.lines.data) if region else ([], [])
        if region is None:
            form.region_id.errors = [_("Choose a budget.")]
        elif problems:
            form.lines.errors = [
                _("Nothing was allocated. Correct these lines and send the batch again."),
                *problems,
            ]
        elif form.preview.data:
            checked = lines
        else:
            done = _allocate_batch(actor, region, lines, form)
            if done is not None:
                return done
    return render_template(
        "ledger/allocations.html",
        form=form,
        checked=checked,
        budgets=_budgets(regions),
        region_label=region_label,
    )


@bp.route("/staff/allocations/<batch_key>")
@requires(Role.STATION_STAFF, Role.ADMIN)
def allocation_batch(batch_key: str):
    if not KEY_RE.match(batch_key):
        abort(404)
    txs = list(
        db.session.scalars(
            db.select(Transaction)
            .where(
                Transaction.kind == TransactionKind.ALLOCATION,
                Transaction.idempotency_key.startswith(f"allocation:{batch_key}:"),
                Transaction.actor_id == current_user.id,
            )
            .order_by(Transaction.id)
        )
    )
    if not txs:
        abort(404)
    rows = []
    for tx in txs:
        credit = next(e for e in tx.entries if e.account.user_id is not None)
        budget = next(e for e in tx.entries if e.account.user_id is None)
        rows.append(
            SimpleNamespace(tx=tx, person=credit.account.user, points=credit.amount, budget=budget)
        )
    return render_template(
        "ledger/allocation_batch.html",
        rows=rows,
        total=sum(row.points for row in rows),
        memo=txs[0].memo,
        region=rows[0].budget.account.region,
        when=txs[0].created_at,
    )


# -- administrators: any account in scope, reversals ---------------------------------------


def _viewable_account(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None or not services.can_view_account(current_user, account):
        abort(404)  # another subtree's accounts are not even acknowledged
    return account


@bp.route("/admin/accounts")
@requires(Role.ADMIN)
def accounts():
    q = request.args.get("q", "").strip()
    user_id = request.args.get("user", "")
    people = []
    if q or user_id.isdigit():
        query = db.select(User).join(Region, Region.id == User.region_id)
        query = query.where(in_admin_scope(current_user, Region.path))
        if user_id.isdigit():
            query = query.where(User.id == int(user_id))
        else:
            query = query.where(
                db.or_(
                    User.phone == q,
                    User.username == q.lower(),
                    User.name.contains(q, autoescape=True),
                )
            )
        for person in db.session.scalars(query.order_by(User.name).limit(30)):
            people.append(
                SimpleNamespace(
                    person=person,
                    hours=services.find_person_account(person, AccountKind.HOURS),
                    points=services.find_person_account(person, AccountKind.POINTS),
                )
            )
    system = db.paginate(
        db.select(Account)
        .join(Region, Region.id == Account.region_id)
        .where(Account.user_id.is_(None), in_admin_scope(current_user, Region.path))
        .order_by(Region.path, Account.kind, Account.currency),
        per_page=30,
        error_out=False,
    )
    return render_template(
        "ledger/accounts.html",
        q=q,
        user_id=user_id,
        people=people,
        searched=bool(q or user_id),
        system=system,
        account_label=account_label,
        balance_of=services.balance_of,
    )


@bp.route("/admin/accounts/<int:account_id>")
@requires(Role.ADMIN)
def account(account_id: int):
    account = _viewable_account(account_id)
    return render_template(
        "ledger/account.html",
        account=account,
        label=account_label(account),
        balance=services.balance_of(account),
        statement=statement(account, {"account_id": account.id}, with_reversals=True),
    )


@bp.route("/admin/accounts/<int:account_id>/statement.<fmt>")
@requires(Role.ADMIN)
def account_export(account_id: int, fmt: str):
    if fmt not in EXPORTS:
        abort(404)
    account = _viewable_account(account_id)
    response = export(
        account, fmt, f"account-{account.id}", account_label(account), with_actor=True
    )
    args = {**request.args.to_dict(), "account_id": account.id}
    return response or redirect(url_for("ledger.account", **args))


@bp.route("/admin/transactions/<int:tx_id>/reverse", methods=["GET", "POST"])
@requires(Role.ADMIN)
def reverse(tx_id: int):
    tx = db.get_or_404(Transaction, tx_id)
    if not any(services.can_view_account(current_user, e.account) for e in tx.entries):
        abort(404)
    back_id = request.args.get("account", "")
    back = next((e.account for e in tx.entries if str(e.account_id) == back_id), None)
    back_url = url_for("ledger.account", account_id=back.id) if back else url_for("ledger.accounts")
    reversal = db.session.scalar(db.select(Transaction).filter_by(reverses_id=tx.id))
    form = ReversalForm()
    if reversal is None and form.validate_on_submit():
        try:
            posted = services.reverse(current_user, tx, form.reason.data)
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(
                _(
                    "Transaction no. %(id)s has been reversed by no. %(reversal)s.",
                    id=tx.id,
                    reversal=posted.transaction.id,
                ),
                "success",
            )
            return redirect(back_url)
    return render_template(
        "ledger/reverse.html",
        tx=tx,
        form=form,
        reversal=reversal,
        back_url=back_url,
        account_label=account_label,
    )
