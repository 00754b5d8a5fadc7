"""Domain signals: a domain announces what it changed, and domains to its right (reports)
listen, without the announcing domain importing them. Receivers run synchronously, in the
sender's database transaction, so what they write commits or rolls back with the change."""

from blinker import Namespace

_signals = Namespace()

# sender: the ledger Transaction just inserted; kwargs: legs, reverses (the original or None)
transaction_posted = _signals.signal("transaction-posted")
# sender: the ServiceRecord just moved from pending to approved
service_approved = _signals.signal("service-approved")
# sender: the Redemption just completed; kwargs: lines
redemption_completed = _signals.signal("redemption-completed")
# sender: the Redemption just cancelled; kwargs: lines
redemption_cancelled = _signals.signal("redemption-cancelled")
