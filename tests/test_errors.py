"""The one exception-chain walker and the one wording of configuration messages."""

from __future__ import annotations

import pytest
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.pipeline.exceptions import PipelineStepFailed

from braze_cdi_source import braze_cdi_source
from braze_cdi_source.errors import (
    MISSING_API_KEY,
    MISSING_BASE_URL,
    BrazeApiError,
    ConfigurationError,
    exception_chain,
    find_cause,
    missing_config_message,
    root_cause,
)
from braze_cdi_source.http.client import check_api_key, check_base_url


def test_root_cause_finds_our_error_inside_dlts_wrappers(sim, make_pipeline):
    unknown = "00000000-0000-4000-8000-000000000000"  # the simulator answers 400 Invalid integration ID
    source = braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url, integration_ids=[unknown], fail_fast=True)
    with pytest.raises(PipelineStepFailed) as caught:
        make_pipeline().run(source)
    cause = root_cause(caught.value)
    assert isinstance(cause, BrazeApiError)
    assert cause.status == 400 and cause.integration_id == unknown
    assert find_cause(caught.value, BrazeApiError) is cause
    assert find_cause(caught.value, KeyError) is None


def test_root_cause_of_a_foreign_error_is_the_innermost_one_and_a_cyclic_chain_ends():
    inner = ValueError("inner")
    outer = RuntimeError("outer")
    outer.__cause__ = inner
    inner.__context__ = outer  # a cycle: each exception is visited once
    assert list(exception_chain(outer)) == [outer, inner]
    assert root_cause(outer) is inner


def test_the_client_and_the_cli_word_missing_configuration_alike(monkeypatch, tmp_path):
    with pytest.raises(ConfigurationError, match="No Braze API key") as key:
        check_api_key(None)
    with pytest.raises(ConfigurationError, match="No Braze base URL") as url:
        check_base_url("")
    assert str(key.value) == MISSING_API_KEY == missing_config_message({"api_key", "base_url"})
    assert str(url.value) == MISSING_BASE_URL == missing_config_message({"base_url"})

    # what dlt raises when the source's key is not configured anywhere: the CLI turns it into the same message
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOURCES__BRAZE_CDI__API_KEY", raising=False)
    with pytest.raises(ConfigFieldMissingException) as missing:
        braze_cdi_source(base_url="http://127.0.0.1:1")
    assert missing_config_message(set(missing.value.fields)) == MISSING_API_KEY


def test_one_exception_chain_walker():
    """errors.exception_chain is the one walker of exception chains (issue 20): no other module of the package
    reads `__cause__` / `__context__` (the transport had a second walker, following urllib3's `reason`)."""
    import ast
    from pathlib import Path

    import braze_cdi_source

    package = Path(braze_cdi_source.__file__).parent
    readers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr in ("__cause__", "__context__")
    )
    assert set(readers) == {"errors.py"}, readers
