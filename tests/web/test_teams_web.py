"""Teams and territories under settings: the address, and territories ticking industries from the
tenant's picklist so that leads in those industries are routed to the team."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.leads.models import Lead
from rapport.tenants.picklists import services as picklists
from rapport.tenants.teams import services as team_services
from rapport.tenants.teams.models import Territory


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def test_territories_route_by_the_industries_of_the_picklist(app, client, auth, new_tenant):
    t = new_tenant("Teams settings")
    with app.app_context(), tenant_session(t.ref) as s:
        team = team_services.create_team(s, {"name": "Tech desk"})
        team_services.add_member(s, team.id, {"user_id": str(t.owner_id)})
        robotics = picklists.add_option(s, "industry", {"label": "Robotics"}).value
        team_id = team.id
    auth.login_as(t)
    assert client.get(f"/{t.slug}/teams/").status_code == 404  # it lives under settings now
    base = f"/{t.slug}/settings/teams/"
    index = page_text(client.get(base))
    assert "Tech desk" in index and 'href="/' + t.slug + '/settings/"' in index
    form = page_text(client.get(base + "territories/new"))
    offered = re.findall(r'name="industries" value="([^"]+)"', form)
    assert offered[:2] == ["agriculture", "construction"] and robotics in offered
    created = auth.post(
        base + "territories",
        {"name": "Machines", "team_id": str(team_id), "priority": "500",
         "industries": ["software", robotics]},
    )  # fmt: skip
    assert created.status_code == 303
    with app.app_context(), tenant_session(t.ref) as s:
        territory = s.scalars(select(Territory)).one()
        assert territory.industries == ["software", robotics]
    edit = page_text(client.get(f"{base}territories/{territory.id}/edit"))
    assert f'value="{robotics}" checked' in edit and 'value="retail" >' in edit
    made = auth.post(
        f"/{t.slug}/leads/", {"last_name": "Asimov", "industry": "Robotics", "status": "new"}
    )
    assert made.status_code == 303
    with app.app_context(), tenant_session(t.ref) as s:
        lead = s.scalars(select(Lead).where(Lead.last_name == "Asimov")).one()
        assert (lead.industry, lead.team_id, lead.owner_id) == (robotics, team_id, t.owner_id)
