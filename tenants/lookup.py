"""Screen-pop lookup: the contacts (and companies) behind a phone number or an email address.

Phone numbers are compared on their *national significant number* (NSN), so the formats people
and telephone systems use for one line all match:

1. Drop an extension (``x12``, ``ext. 12``) and every character that is not a digit.
2. ``+`` or a leading ``00`` (the international prefix) means a country code follows: drop it.
   Country calling codes are prefix-free, so the code's length is known from its first digits
   (1 and 7 are one digit, ``_TWO_DIGIT_CODES`` two, every other code three).
3. Drop one trunk ``0`` (``(010) …`` in China, ``020 …`` in the UK, ``+44 (0)20 …``).
4. Two numbers match when their NSNs are equal, or when one is a country code followed by the
   other (caller IDs often arrive as ``861012345678``, with neither ``+`` nor trunk ``0``).

So ``+86 10-1234 5678``, ``(010) 1234-5678``, ``0086 10 1234 5678``, ``01012345678`` and
``861012345678`` are one number.

Where the work happens: no column is added. The database narrows the candidates with the digits of
the stored ``phone`` (``regexp_replace`` on PostgreSQL, a ``replace()`` chain on SQLite) containing
the last seven digits of the number asked for; Python then applies the exact rule above to those
few rows. A contact's further numbers and addresses (``contact_phones`` / ``contact_emails``) are
searched the same way as the primary ones. The containment test cannot use an index, so it scans
the tenant's contacts; that is milliseconds at CRM sizes (tens of thousands of rows per tenant).
A normalised, indexed ``phone_nsn`` column is the step to take if a tenant's table outgrows that,
at the price of a migration and of keeping the column in step in every writer.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from rapport.tenants.companies.models import Company
from rapport.tenants.contacts.models import Contact, ContactEmail, ContactPhone

_TWO_DIGIT_CODES = frozenset(
    {"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
     "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
     "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"}
)  # fmt: skip
_EXTENSION = re.compile(r"\s*(?:ext\.?|x)\s*[0-9]+\s*$", re.IGNORECASE)
#: Digits the database must find in a stored number before Python compares it exactly.
CANDIDATE_DIGITS = 7
MIN_NSN_DIGITS = 5
MAX_CANDIDATES = 500
MAX_RESULTS = 20


def country_code_length(digits: str) -> int:
    """How many leading digits of an international number are its country code."""
    if digits[:1] in ("1", "7"):
        return 1
    return 2 if digits[:2] in _TWO_DIGIT_CODES else 3


def _is_country_code(digits: str) -> bool:
    return bool(digits) and digits[0] != "0" and country_code_length(digits) == len(digits)


def national_number(raw: str) -> str:
    """The national significant number of a phone number as written (digits only; may be "")."""
    text = _EXTENSION.sub("", raw.strip())
    digits = re.sub(r"[^0-9]", "", text)
    international = text.startswith("+")
    if not international and digits.startswith("00"):
        digits, international = digits[2:], True
    if international and digits:
        digits = digits[country_code_length(digits) :]
    return digits[1:] if digits.startswith("0") else digits


def same_number(a: str, b: str) -> bool:
    """Whether two NSNs name one line (equal, or one is a country code plus the other)."""
    if not a or not b:
        return False
    if a == b:
        return True
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return (
        len(shorter) >= MIN_NSN_DIGITS
        and longer.endswith(shorter)
        and _is_country_code(longer[: -len(shorter)])
    )


def _digits_of(session: Session, column: Any) -> ColumnElement[str]:
    """The column with every non-digit removed, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.regexp_replace(column, "[^0-9]", "", "g")
    expr = column
    # The characters validate_phone admits besides digits (the extension's letters stay: the
    # candidate test looks for digits inside, and the exact test in Python drops them).
    for char in (" ", "\t", "-", "(", ")", ".", "/", "+"):
        expr = func.replace(expr, char, "")
    return expr


def _phone_matches(session: Session, model: Any, nsn: str) -> list[Any]:
    digits = _digits_of(session, model.phone)
    candidates = session.scalars(
        select(model)
        .where(model.phone.is_not(None), digits.contains(nsn[-CANDIDATE_DIGITS:]))
        .order_by(model.id)
        .limit(MAX_CANDIDATES)
    )
    found = [row for row in candidates if same_number(national_number(row.phone), nsn)]
    return found[:MAX_RESULTS]


def contacts_by_phone(session: Session, phone: str) -> list[Contact]:
    """Contacts whose phone is this number, however either is formatted."""
    nsn = national_number(phone)
    if len(nsn) < MIN_NSN_DIGITS:
        return []
    found = {c.id: c for c in _phone_matches(session, Contact, nsn)}
    # Further numbers: the primary one is the contact's own ``phone`` and was searched above.
    others = {row.contact_id for row in _phone_matches(session, ContactPhone, nsn)} - set(found)
    if others:
        for contact in session.scalars(select(Contact).where(Contact.id.in_(others))):
            found[contact.id] = contact
    return [found[key] for key in sorted(found)][:MAX_RESULTS]


def companies_by_phone(session: Session, phone: str) -> list[Company]:
    """Companies whose switchboard number is this number."""
    nsn = national_number(phone)
    if len(nsn) < MIN_NSN_DIGITS:
        return []
    return _phone_matches(session, Company, nsn)


def contacts_by_email(session: Session, email: str) -> list[Contact]:
    """Contacts with this email address, compared without regard to case."""
    address = email.strip().lower()
    if not address:
        return []
    return list(
        session.scalars(
            select(Contact)
            .where(
                or_(
                    func.lower(Contact.email) == address,
                    Contact.id.in_(
                        select(ContactEmail.contact_id).where(
                            func.lower(ContactEmail.email) == address
                        )
                    ),
                )
            )
            .order_by(Contact.id)
            .limit(MAX_RESULTS)
        )
    )


def companies_of(session: Session, contacts: list[Contact]) -> dict[Any, Company]:
    """The companies of these contacts, by id."""
    ids = {c.company_id for c in contacts if c.company_id is not None}
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Company).where(Company.id.in_(ids)))}
