"""The picklists a tenant shapes: which field each one feeds, what every workspace starts with.

The set of lists is code (a list is a field some record type stores); the options of each list
are the tenant's data. Records store an option's ``value``, which never changes, so relabelling
an option changes every record at once and code that branches on a value keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Lead status meanings: what conversion, qualification and the "open leads" filter read.
LEAD_MEANINGS = ("open", "qualified", "disqualified", "converted")


@dataclass(frozen=True)
class Picklist:
    key: str
    title: str  # "Lead statuses"
    noun: str  # "status": the word error messages use
    field: str  # the record field it feeds, named in errors
    max_length: int  # the longest value the field's column holds
    #: (value, label, meaning) in the order people see them.
    defaults: tuple[tuple[str, str, str | None], ...]
    #: Meanings an option may carry; empty: the list has none.
    meanings: tuple[str, ...] = ()
    #: Values Rapport writes itself (conversion, imports, the API): never retired.
    system: tuple[str, ...] = ()
    #: Values only Rapport sets (converting a lead): people cannot pick them.
    reserved: tuple[str, ...] = ()
    #: A record must hold one of the list's values (blank is refused).
    required: bool = False
    help: str = ""


LISTS: dict[str, Picklist] = {
    p.key: p
    for p in (
        Picklist(
            "lead_status", "Lead statuses", "status", "status", 20,
            (
                ("new", "New", "open"),
                ("working", "Working", "open"),
                ("qualified", "Qualified", "qualified"),
                ("unqualified", "Unqualified", "disqualified"),
                ("converted", "Converted", "converted"),
            ),
            meanings=LEAD_MEANINGS,
            system=("converted",),
            reserved=("converted",),
            required=True,
            help="Where a lead stands. The meaning tells Rapport which statuses count as open, "
            "qualified or disqualified; converting a lead sets the converted status.",
        ),
        Picklist(
            "lead_source", "Lead sources", "source", "source", 30,
            (
                ("web_form", "Web form", None),
                ("website", "Website", None),
                ("referral", "Referral", None),
                ("event", "Event", None),
                ("cold_call", "Cold call", None),
                ("email", "Email campaign", None),
                ("partner", "Partner", None),
                ("import", "Import", None),
                ("api", "API", None),
                ("other", "Other", None),
            ),
            system=("web_form", "import", "api"),
            help="Where a lead came from. Web form, Import and API are set by Rapport itself.",
        ),
        Picklist(
            "activity_type", "Activity types", "type", "kind", 10,
            (
                ("task", "Task", None),
                ("call", "Call", None),
                ("meeting", "Meeting", None),
                ("visit", "Visit", None),
                ("email", "Email", None),
            ),
            system=("task", "visit"),
            required=True,
            help="What an activity is. Visit plans create visits; a new activity is a task "
            "unless people choose otherwise.",
        ),
        Picklist(
            "loss_reason", "Loss reasons", "reason", "lost_reason", 40,
            (
                ("price", "Price too high", None),
                ("competitor", "Went with a competitor", None),
                ("budget", "No budget", None),
                ("timing", "Bad timing", None),
                ("no_decision", "No decision", None),
                ("features", "Missing features", None),
                ("other", "Other", None),
            ),
            help="Why a deal was lost, asked when a deal reaches a lost stage.",
        ),
        Picklist(
            "industry", "Industries", "industry", "industry", 40,
            (
                ("agriculture", "Agriculture", None),
                ("construction", "Construction", None),
                ("consulting", "Consulting", None),
                ("education", "Education", None),
                ("energy", "Energy", None),
                ("finance", "Finance and insurance", None),
                ("government", "Government", None),
                ("healthcare", "Healthcare", None),
                ("hospitality", "Hospitality", None),
                ("manufacturing", "Manufacturing", None),
                ("media", "Media", None),
                ("nonprofit", "Non-profit", None),
                ("real_estate", "Real estate", None),
                ("retail", "Retail", None),
                ("software", "Software", None),
                ("telecom", "Telecommunications", None),
                ("transport", "Transport and logistics", None),
                ("other", "Other", None),
            ),
            help="What a company or a lead's company does (also what territories route on).",
        ),
    )
}  # fmt: skip


def get(list_key: str) -> Picklist:
    """The list with this key; KeyError for a key that is not a list."""
    return LISTS[list_key]
