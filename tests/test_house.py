"""The house: a pillar registers in one line of `domains.DOMAINS`, and the import rules are
checked by a real tool that fails on a violation."""

from __future__ import annotations

import sys
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from productops import domains
from productops.core import auth, jobs
from productops.core import demo as core_demo
from productops.core.db import Base, load_models, transaction
from productops.core.workspace import Workspace, init_workspace
from tests.import_rules import check_graph

PILLAR = "throwaway_pillar"

FILES = {
    "__init__.py": '"""A pillar made up by a test."""\n',
    "models.py": """
        from sqlalchemy import String
        from sqlalchemy.orm import Mapped, mapped_column

        from productops.core.db import Base


        class Widget(Base):
            __tablename__ = "throwaway_widgets"

            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str] = mapped_column(String(50))
        """,
    "settings.py": """
        from productops.core.settings import PillarSection


        class Section(PillarSection):
            \"\"\"[throwaway_pillar]: a made-up section.\"\"\"

            colour: str = "blue"
        """,
    "storage.py": """
        import json

        FILES = ("widgets.yml",)


        def init(ws):
            (ws.path / "widgets.yml").write_text("widgets: []\\n")


        def private_paths(ws):
            return [ws.path / "widgets.data"]


        def backup(ws, folder):
            (folder / "part.json").write_text(json.dumps({"colour": "kept"}))
            return {"parts": 1}


        RESTORED = []


        def restore(ws, folder, info):
            RESTORED.append((json.loads((folder / "part.json").read_text()), info))
        """,
    "permissions.py": """
        from productops.core.auth import PermissionSpec

        PERMISSIONS = {"widgets.approve": PermissionSpec("Approve widgets", roles=("editor",))}
        """,
    "tasks.py": """
        from pydantic import BaseModel, ConfigDict

        from productops.core.jobs import job_handler


        class PingParams(BaseModel):
            model_config = ConfigDict(extra="forbid")
            times: int = 1


        @job_handler("throwaway.ping", "Ping the widgets", params=PingParams)
        def ping(ctx):
            return {"pinged": ctx.params_as(PingParams).times}
        """,
    "demo.py": """
        from productops.core.demo import demo_step


        @demo_step("throwaway.widgets", "Widgets", after=("customers.people",))
        def widgets(ctx):
            return {"widgets": 3}
        """,
    "routes.py": """
        from fastapi import APIRouter, FastAPI, Request

        from productops.web.deps import ReadApi, UserPage
        from productops.web.nav import NavEntry, add_nav
        from productops.web.templating import render

        pages = APIRouter(include_in_schema=False)
        api = APIRouter(prefix="/api/v1")


        @pages.get("/widgets")
        def widgets_page(request: Request, principal: UserPage):
            return render(request, "throwaway/widgets.html", {"count": 3})


        @api.get("/widgets")
        def api_widgets(principal: ReadApi) -> dict[str, int]:
            return {"count": 3}


        def register(app: FastAPI) -> None:
            app.include_router(pages)
            app.include_router(api)
            add_nav(app, NavEntry("Widgets", "/widgets", order=99))
        """,
    "cli.py": """
        import typer

        app = typer.Typer(help="Widgets.", no_args_is_help=True)


        @app.command("hello")
        def hello() -> None:
            \"\"\"Say hello.\"\"\"
            typer.echo("hello from the widgets")


        @app.command("other")
        def other() -> None:
            \"\"\"Another command.\"\"\"
        """,
    "migrations/versions/w001_widgets.py": """
        import sqlalchemy as sa
        from alembic import op

        revision = "w001"
        down_revision = "{head}"
        branch_labels = None
        depends_on = None


        def upgrade() -> None:
            op.create_table(
                "throwaway_widgets",
                sa.Column("id", sa.Integer(), primary_key=True),
                sa.Column("name", sa.String(50), nullable=False),
            )


        def downgrade() -> None:
            op.drop_table("throwaway_widgets")
        """,
    "templates/throwaway/widgets.html": (
        '{% extends "base.html" %}{% block content %}<h1>{{ count }} widgets</h1>{% endblock %}'
    ),
}


@pytest.fixture
def throwaway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A pillar package written to a temporary folder and added to DOMAINS, removed after."""
    from productops.core.db import head_revision

    head = head_revision()
    root = tmp_path / "pkgs"
    for name, text in FILES.items():
        path = root / PILLAR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).replace("{head}", head))
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(domains, "DOMAINS", (*domains.DOMAINS, PILLAR))
    kinds_before = dict(jobs._REGISTRY)
    steps_before = dict(core_demo._STEPS)
    try:
        yield PILLAR
    finally:
        jobs._REGISTRY.clear()
        jobs._REGISTRY.update(kinds_before)
        core_demo._STEPS.clear()
        core_demo._STEPS.update(steps_before)
        table = Base.metadata.tables.get("throwaway_widgets")
        if table is not None:
            Base.metadata.remove(table)
        for module in [m for m in sys.modules if m == PILLAR or m.startswith(PILLAR + ".")]:
            del sys.modules[module]


def test_a_pillar_registers_in_one_line(throwaway: str, tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", name="Widget Co")
    try:
        _sees_everything(ws, tmp_path)
    finally:
        ws.close()


def _sees_everything(ws: Workspace, tmp_path: Path) -> None:
    from productops.cli import build_app
    from productops.core.backup import backup_workspace, restore_workspace
    from productops.core.settings import load_settings
    from productops.web.app import create_app
    from tests.conftest import api_key, sign_in

    # its tables and its migration (Alembic and backup see them), its file, its settings
    assert "throwaway_widgets" in load_models().tables
    with transaction(ws.sessions) as s:
        s.execute(load_models().tables["throwaway_widgets"].insert().values(name="w"))
    assert (ws.path / "widgets.yml").read_text() == "widgets: []\n"
    assert ws.settings.section("throwaway_pillar", type(ws.settings.throwaway_pillar)).colour == (
        "blue"
    )
    with (ws.path / "productops.toml").open("a") as fh:
        fh.write('\n[throwaway_pillar]\ncolour = "green"\n')
    assert load_settings(ws.path).throwaway_pillar.colour == "green"  # type: ignore[attr-defined]

    # its permission, job kind and demo step
    assert "widgets.approve" in auth.role_permissions("editor")
    assert "widgets.approve" not in auth.role_permissions("viewer")
    assert "throwaway.ping" in jobs.registered_kinds()
    with transaction(ws.sessions) as s:
        job_id = jobs.enqueue(s, "throwaway.ping", {"times": 2}).id
    jobs.run_pending(ws)
    with ws.sessions() as s:
        assert jobs.get_job(s, job_id).result == {"pinged": 2}
    names = [step.name for step in core_demo.steps()]
    assert names.index("throwaway.widgets") > names.index("customers.people")

    # its page, navigation entry and API route
    editor = sign_in(ws, "editor")
    page = editor.client.get("/widgets")
    assert page.status_code == 200 and "3 widgets" in page.text
    assert 'href="/widgets"' in editor.client.get("/").text
    client = TestClient(create_app(ws))
    key = api_key(ws, "read")
    r = client.get("/api/v1/widgets", headers={"Authorization": f"Bearer {key}"})
    assert r.json() == {"count": 3}

    # its CLI group, under the pillar's name
    result = CliRunner().invoke(build_app(), ["throwaway_pillar", "hello"])
    assert result.exit_code == 0 and "hello from the widgets" in result.output

    # its part of backup and restore
    archive = tmp_path / "b.tar.gz"
    manifest = backup_workspace(ws, archive)
    assert manifest["pillars"]["throwaway_pillar"] == {"parts": 1}
    with tarfile.open(archive) as tar:
        assert "productops-backup/files/widgets.yml" in tar.getnames()
    storage = sys.modules[f"{PILLAR}.storage"]
    restore_workspace(archive, tmp_path / "restored")
    assert storage.RESTORED[-1] == ({"colour": "kept"}, {"parts": 1})


# --- the import rules ----------------------------------------------------------------------

BAD_TREE = {
    "fakeops/__init__.py": "",
    "fakeops/core/__init__.py": "",
    "fakeops/core/jobs.py": "import fakeops.shop.service\n",
    "fakeops/web/__init__.py": "",
    "fakeops/web/app.py": "from fakeops.shop import routes\n",
    "fakeops/shop/__init__.py": "",
    "fakeops/shop/service.py": "import fastapi\n",
    "fakeops/shop/routes.py": "import fastapi\nfrom fakeops.web import app\n",
    "fakeops/shop/cli.py": "import typer\n",
    "fakeops/till/__init__.py": "",
    "fakeops/till/service.py": (
        "from fakeops.shop import models\nfrom fakeops.shop import service\n"
    ),
    "fakeops/shop/models.py": "",
}


def test_the_import_rules_catch_every_kind_of_breach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, text in BAD_TREE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("fakeops", include_external_packages=True, cache_dir=None)
    broken = {
        (b.importer, b.imported)
        for b in check_graph(graph, ("fakeops.shop", "fakeops.till"), root="fakeops")
    }
    assert broken == {
        ("fakeops.core.jobs", "fakeops.shop.service"),  # core names a pillar
        ("fakeops.web.app", "fakeops.shop.routes"),  # the shell imports a pillar
        ("fakeops.shop.service", "fastapi"),  # a service touches the web
        ("fakeops.till.service", "fakeops.shop.models"),  # past the public API
    }


def test_productops_keeps_the_house_rules() -> None:
    graph = grimp.build_graph("productops", include_external_packages=True, cache_dir=None)
    assert [b.render() for b in check_graph(graph, tuple(domains.DOMAINS))] == []
