"""An OpenFeature provider for productops' flags: the vendor-neutral flag API in your Python
application, evaluated in-process from the GrowthBook payload productops serves.

    from openfeature import api
    from productops.experiments.openfeature import ProductopsProvider

    api.set_provider_and_wait(ProductopsProvider(url="https://productops.example.com",
                                        client_key="sdk-..."))
    client = api.get_client()
    client.get_boolean_value("new-checkout", False, EvaluationContext("user-1", {"plan": "pro"}))

Needs the `openfeature-sdk` package in the application (`pip install productops[openfeature]`);
productops' server does not. The targeting key is the `id` attribute rules hash on.
Reasons: TARGETING_MATCH (a rule served the value), SPLIT (an experiment or rollout put the
user in a variation; the variant is its key), DEFAULT (no rule matched), DISABLED (a
prerequisite is off), ERROR with FLAG_NOT_FOUND or TYPE_MISMATCH (the default is returned).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.exception import ErrorCode
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider import AbstractProvider, Metadata
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(
        "productops.experiments.openfeature needs the OpenFeature SDK: "
        "pip install 'productops[openfeature]' (or openfeature-sdk)"
    ) from exc

from productops.experiments.flags.compiled import CompiledFeatures
from productops.experiments.flags.evaluate import FeatureResult

_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "string": (str,),
    "integer": (int,),
    "float": (float, int),
    "object": (dict, list),
}


class ProductopsProvider(AbstractProvider):
    """Resolves flags from productops. Give `features` (a GrowthBook `features` payload, or
    a `FlagClient`) to evaluate without a network, or `url` and `client_key` to read
    `GET {url}/api/features/{client_key}` and refresh it every `refresh_seconds`."""

    def __init__(
        self,
        features: Mapping[str, Any] | Any | None = None,
        *,
        url: str | None = None,
        client_key: str | None = None,
        refresh_seconds: float = 60.0,
        timeout: float = 10.0,
    ) -> None:
        super().__init__()
        if features is None and not (url and client_key):
            raise ValueError("give features (or a FlagClient), or url and client_key")
        self._source = features
        self._url = url.rstrip("/") if url else None
        self._client_key = client_key
        self._refresh = refresh_seconds
        self._timeout = timeout
        self._compiled: CompiledFeatures | None = None
        self._fetched = 0.0
        self._lock = threading.Lock()

    def get_metadata(self) -> Metadata:
        return Metadata(name="productops")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self._flags()

    # --- where the flags come from -------------------------------------------------------

    def _flags(self) -> CompiledFeatures:
        source = self._source
        if source is not None and hasattr(source, "compiled"):
            compiled: CompiledFeatures = source.compiled  # a FlagClient keeps itself fresh
            return compiled
        if source is not None:
            if self._compiled is None:
                self._compiled = CompiledFeatures(dict(source))
            return self._compiled
        with self._lock:
            if self._compiled is None or time.monotonic() - self._fetched > self._refresh:
                self._compiled = CompiledFeatures(self._fetch())
                self._fetched = time.monotonic()
            return self._compiled

    def _fetch(self) -> dict[str, Any]:
        import httpx

        response = httpx.get(f"{self._url}/api/features/{self._client_key}", timeout=self._timeout)
        response.raise_for_status()
        body = response.json()
        features = body.get("features")
        if not isinstance(features, dict):
            raise ValueError("the features endpoint answered without 'features'")
        return features

    # --- resolving ------------------------------------------------------------------------

    @staticmethod
    def _attributes(context: EvaluationContext | None) -> dict[str, Any]:
        if context is None:
            return {}
        attributes = dict(context.attributes or {})
        if context.targeting_key is not None:
            attributes.setdefault("id", context.targeting_key)
        return attributes

    def _resolve(
        self, kind: str, flag_key: str, default_value: Any, context: EvaluationContext | None
    ) -> FlagResolutionDetails[Any]:
        try:
            flags = self._flags()
        except Exception as exc:
            return FlagResolutionDetails(
                default_value, ErrorCode.PROVIDER_NOT_READY, str(exc), Reason.ERROR
            )
        result = flags.evaluate(flag_key, self._attributes(context))
        if result.source == "unknownFeature":
            return FlagResolutionDetails(
                default_value, ErrorCode.FLAG_NOT_FOUND, f"no flag '{flag_key}'", Reason.ERROR
            )
        value = result.value
        if value is None:
            return FlagResolutionDetails(default_value, reason=_reason(result))
        expected = _TYPES[kind]
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if (isinstance(value, bool) and kind != "boolean") or not isinstance(value, expected):
            return FlagResolutionDetails(
                default_value,
                ErrorCode.TYPE_MISMATCH,
                f"flag '{flag_key}' is a {type(value).__name__}, not a {kind}",
                Reason.ERROR,
            )
        if kind == "float":
            value = float(value)  # type: ignore[arg-type]
        variant = result.experiment_result.key if result.experiment_result else None
        metadata: dict[str, bool | int | float | str] = {"source": result.source}
        if result.rule_id:
            metadata["rule"] = result.rule_id
        if result.experiment is not None:
            metadata["experiment"] = str(result.experiment.get("key", ""))
        return FlagResolutionDetails(
            value, reason=_reason(result), variant=variant, flag_metadata=metadata
        )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve("boolean", flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._resolve("string", flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return self._resolve("integer", flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve("float", flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Any,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Any]:
        return self._resolve("object", flag_key, default_value, evaluation_context)


def _reason(result: FeatureResult) -> str:
    if result.source == "experiment":
        return Reason.SPLIT
    if result.source == "force":
        return Reason.TARGETING_MATCH
    if result.source in ("prerequisite", "cyclicPrerequisite"):
        return Reason.DISABLED
    return Reason.DEFAULT
