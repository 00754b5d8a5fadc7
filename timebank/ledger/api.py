"""API: accounts and statements, and the calls that move hours and points.

An account the caller may not read answers 404, exactly as one that does not exist,
so that account ids are never confirmed to outsiders.

Money-moving calls require an `Idempotency-Key` header. The key is the caller's own
(two callers using the same key never meet): the same key with the same body answers
200 with the first transaction and the header `Idempotent-Replayed: true`, moving
nothing; the same key with another body is refused with 409 `idempotency_conflict`.
"""

import hashlib
from datetime import datetime, time, timedelta
from functools import wraps
from zoneinfo import ZoneInfo

from flask import current_app, request
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import contains_eager

from timebank.auth.models import User
from timebank.core.api import Blueprint, paginate
from timebank.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from timebank.core.security import requires
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.models import Account, AccountKind, Entry, Transaction
from timebank.ledger.schemas import (
    AccountSchema,
    AllocationResultSchema,
    AllocationSchema,
    ConversionSchema,
    MyAccountsSchema,
    StatementPageSchema,
    StatementQuerySchema,
    TransactionSchema,
    TransferSchema,
)
from timebank.regions.api import get_region
from timebank.regions.models import Region

blp = Blueprint(
    "Ledger",
    __name__,
    url_prefix="",
    description="Time bank and points: accounts, statements, conversions, transfers, allocations",
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200
# Longer client keys are stored as a digest, so that namespaced ledger keys fit 200 chars.
VERBATIM_KEY_LENGTH = 100


class IdempotencyKeyRequired(DomainError):
    status = 428
    code = "idempotency_key_required"


class NoHomeCommunity(ValidationFailed):
    code = "no_home_community"


# -- idempotency ----------------------------------------------------------------------------


def idempotent(view):
    """Require the Idempotency-Key header (before the body is read) and pass it on."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        if not key.strip():
            raise IdempotencyKeyRequired(
                _(
                    "This call moves hours or points: send an Idempotency-Key header, "
                    "the same one when you retry."
                ),
                field=IDEMPOTENCY_HEADER,
            )
        if len(key) > MAX_KEY_LENGTH:
            raise ValidationFailed(
                _("Use at most %(max)d characters.", max=MAX_KEY_LENGTH), field=IDEMPOTENCY_HEADER
            )
        return view(*args, idempotency_key=key, **kwargs)

    wrapped = blp.doc(
        parameters=[
            {
                "in": "header",
                "name": IDEMPOTENCY_HEADER,
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                "description": "Chosen by the client, one per intended operation. A retry "
                "with the same key and body answers 200 with the first result and "
                "`Idempotent-Replayed: true`, moving nothing; the same key with another "
                "body answers 409.",
            }
        ]
    )(wrapped)
    wrapped = blp.alt_response(409, response="CONFLICT")(wrapped)
    return blp.alt_response(428, response="PRECONDITION_REQUIRED")(wrapped)


def caller_key(user, client_key: str) -> str:
    """The ledger key for a client's Idempotency-Key: namespaced by caller."""
    if len(client_key) > VERBATIM_KEY_LENGTH:
        client_key = "sha256:" + hashlib.sha256(client_key.encode()).hexdigest()
    return f"api:{user.id}:{client_key}"


def _answer(data, replayed: bool):
    """201 for a new transaction; 200 and the replay header for a retry."""
    return data, 200 if replayed else 201, {REPLAYED_HEADER: "true" if replayed else "false"}


def _rename_field(error: DomainError, renames: dict) -> None:
    """Name the field as the caller sent it: services say "amount" for the body's minutes
    or points, and "idempotency_key" for what arrives as the Idempotency-Key header."""
    renames = {"idempotency_key": IDEMPOTENCY_HEADER, **renames}
    if error.field in renames:
        error.field = renames[error.field]


REPLAY_DOC = {"description": "A retry: the transaction first made with this key."}


# -- presenting ----------------------------------------------------------------------------


def _owner(account: Account) -> dict:
    kind, _sep, owner_id = account.owner_key.partition(":")
    return {"type": kind, "id": int(owner_id)}


def _account(account: Account) -> dict:
    lifetime = None
    if account.user_id is not None and account.kind == AccountKind.HOURS:
        lifetime = ledger.lifetime_service_minutes(account.user)
    return {
        "id": account.id,
        "kind": account.kind,
        "kind_label": str(account.kind_enum.label),
        "currency": account.currency,
        "owner": _owner(account),
        "balance": ledger.balance_of(account),
        "lifetime_service_minutes": lifetime,
    }


def _unopened(user, kind: AccountKind, currency: str) -> dict:
    return {
        "id": None,
        "kind": kind.value,
        "kind_label": str(kind.label),
        "currency": currency,
        "owner": {"type": "user", "id": user.id},
        "balance": 0,
        "lifetime_service_minutes": 0 if kind == AccountKind.HOURS else None,
    }


def _transaction(tx: Transaction, viewer) -> dict:
    return {
        "id": tx.id,
        "kind": tx.kind,
        "kind_label": str(tx.kind_enum.label),
        "memo": tx.memo,
        "created_at": tx.created_at,
        "reverses_id": tx.reverses_id,
        "entries": [
            {
                "account_id": entry.account_id,
                "account_kind": entry.account.kind,
                "currency": entry.account.currency,
                "amount": entry.amount,
                # A gift must not show the giver the relative's balance.
                "balance_after": entry.balance_after
                if entry.balance_after is not None
                and ledger.can_view_account(viewer, entry.account)
                else None,
            }
            for entry in tx.entries
        ],
    }


def readable_account(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None or not ledger.can_view_account(current_user, account):
        raise NotFound(_("That account does not exist."), field="account_id")
    return account


def _day_start(day) -> datetime:
    """Midnight of a calendar day where the time bank runs (Asia/Shanghai)."""
    return datetime.combine(
        day, time.min, tzinfo=ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    )


# -- reading -------------------------------------------------------------------------------


@blp.route("/accounts/<int:account_id>")
class AccountById(MethodView):
    @requires()
    @blp.response(200, AccountSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, account_id):
        """One account with its balance; 404 unless it is the caller's or in their scope"""
        return _account(readable_account(account_id))


@blp.route("/accounts/<int:account_id>/entries")
class AccountEntries(MethodView):
    @requires()
    @blp.arguments(StatementQuerySchema, location="query")
    @blp.response(200, StatementPageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, account_id):
        """An account's statement, newest first, with the balance after each entry"""
        account = readable_account(account_id)
        query = (
            db.select(Entry)
            .join(Entry.transaction)
            .where(Entry.account_id == account.id)
            # The transaction comes with its entry; its other entries are not needed.
            .options(contains_eager(Entry.transaction).lazyload(Transaction.entries))
            .order_by(Entry.id.desc())
        )
        if "start" in args:
            query = query.where(Transaction.created_at >= _day_start(args["start"]))
        if "end" in args:
            query = query.where(
                Transaction.created_at < _day_start(args["end"] + timedelta(days=1))
            )
        return paginate(query, args["page"], args["per_page"])


@blp.route("/me/accounts")
class MyAccounts(MethodView):
    @requires()
    @blp.response(200, MyAccountsSchema)
    def get(self):
        """The caller's hours and points accounts with their balances"""
        user = current_user._get_current_object()
        answer = {}
        for name, kind, currency in (
            ("hours", AccountKind.HOURS, "minutes"),
            ("points", AccountKind.POINTS, "points"),
        ):
            # Looked up, not created: a GET writes nothing.
            account = ledger.find_person_account(user, kind)
            answer[name] = _account(account) if account else _unopened(user, kind, currency)
        return answer


# -- moving --------------------------------------------------------------------------------


@blp.route("/conversions")
class Conversions(MethodView):
    @requires()
    @idempotent
    @blp.arguments(ConversionSchema)
    @blp.response(201, TransactionSchema)
    @blp.alt_response(200, schema=TransactionSchema, success=True, **REPLAY_DOC)
    def post(self, args, idempotency_key):
        """Convert the caller's banked minutes to points at their community's rate"""
        user = current_user._get_current_object()
        try:
            posted = ledger.convert(
                user, args["minutes"], key=caller_key(user, idempotency_key), actor=user
            )
        except DomainError as error:
            _rename_field(error, {"amount": "minutes"})
            raise
        db.session.commit()
        return _answer(_transaction(posted.transaction, user), posted.replayed)


@blp.route("/transfers")
class Transfers(MethodView):
    @requires()
    @idempotent
    @blp.arguments(TransferSchema)
    @blp.response(201, TransactionSchema)
    @blp.alt_response(200, schema=TransactionSchema, success=True, **REPLAY_DOC)
    def post(self, args, idempotency_key):
        """Gift minutes to a declared family member, or donate them to the community's pool"""
        user = current_user._get_current_object()
        key = caller_key(user, idempotency_key)
        relative = home = None
        if args["kind"] == "gift":
            relative = db.session.get(User, args["to_user_id"])
            if relative is None:
                # The same answer as for an undeclared person: ids are not confirmed.
                raise ValidationFailed(
                    _("Hours can only be gifted to a declared family member."),
                    field="to_user_id",
                )
        else:
            if user.region_id is None:
                raise NoHomeCommunity(
                    _("Your home community is not set, so there is no public pool to donate to.")
                )
            home = db.session.get(Region, user.region_id)
        try:
            if relative is not None:
                posted = ledger.gift(user, relative, args["minutes"], key=key, memo=args["memo"])
            else:
                posted = ledger.donate_to_pool(
                    user, home, args["minutes"], key=key, memo=args["memo"]
                )
        except DomainError as error:
            _rename_field(error, {"amount": "minutes"})
            raise
        db.session.commit()
        return _answer(_transaction(posted.transaction, user), posted.replayed)


@blp.route("/allocations")
class Allocations(MethodView):
    @requires()
    @idempotent
    @blp.arguments(AllocationSchema)
    @blp.response(201, AllocationResultSchema)
    @blp.alt_response(200, schema=AllocationResultSchema, success=True, **REPLAY_DOC)
    def post(self, args, idempotency_key):
        """Grant points from a region's allocation budget to households, all lines or none

        Each line is its own transaction, keyed by the Idempotency-Key and the person,
        so a resubmitted batch allocates once; a line that fails refuses the whole batch.
        """
        actor = current_user._get_current_object()
        region = get_region(args["region_id"], field="region_id")
        if not any(r.contains(region) for r in ledger.allocation_regions(actor)):
            raise PermissionDenied(
                _("You cannot allocate points from this budget."), field="region_id"
            )
        batch = caller_key(actor, idempotency_key)
        keys = [f"allocation:{batch}:{line['user_id']}" for line in args["lines"]]
        _refuse_a_different_batch(keys)
        results = []
        for number, (line, key) in enumerate(zip(args["lines"], keys, strict=True)):
            field = f"lines.{number}"
            person = db.session.get(User, line["user_id"])
            if person is None:
                raise NotFound(_("That person does not exist."), field=f"{field}.user_id")
            try:
                posted = ledger.allocate(
                    actor, region, person, line["points"], key=key, memo=args["memo"]
                )
            except PermissionDenied as error:
                error.field = f"{field}.user_id"
                raise
            except DomainError as error:
                _rename_field(error, {"amount": f"{field}.points", "points": f"{field}.points"})
                raise
            results.append((line, posted))
        # One commit: every line, or (when any raised above) none.
        db.session.commit()
        body = {
            "region_id": region.id,
            "memo": args["memo"].strip(),
            "lines": [
                {
                    "user_id": line["user_id"],
                    "points": line["points"],
                    "transaction": _transaction(posted.transaction, actor),
                }
                for line, posted in results
            ],
        }
        return _answer(body, all(posted.replayed for _line, posted in results))


def _refuse_a_different_batch(keys: list[str]) -> None:
    """A key already used for a batch naming other people is a different request.

    Lines whose keys exist are checked one by one by the ledger (same amount and memo);
    this catches a retry that adds people, which would otherwise allocate to them.
    """
    used = db.session.scalar(
        db.select(db.func.count())
        .select_from(Transaction)
        .where(Transaction.idempotency_key.in_(keys))
    )
    if 0 < used < len(keys):
        raise ledger.IdempotencyConflict(
            _("This idempotency key was already used for a different request."),
            field=IDEMPOTENCY_HEADER,
        )
