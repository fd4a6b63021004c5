"""`ApiClient`: the base of one external API's adapter, over one pooled `httpx.AsyncClient`."""

from __future__ import annotations

import asyncio
import logging
import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import urlsplit

import httpx
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from ._breaker import CircuitBreaker, CircuitState, Outcome
from ._call import UNSET, Call, QueryValue, RequestSpec, run_with_retries
from ._definition import (
    KeyAuth,
    check_adapter_class,
    check_adapter_name,
    check_settings,
)
from ._errors import (
    CircuitOpenError,
    DeadlineExceededError,
    ExternalApiError,
    MalformedResponseError,
    RateLimitedError,
)
from ._headers import rate_limit_reset_of, redact_fields, request_id_of, retry_after_of
from ._limiter import RateLimiter
from ._plan import plan_request
from ._policy import Backoff, error_class_for_status, transport_failure
from ._report import RouteInfo, debug_enabled, log_bodies, report_call
from ._routes import PathValue, RouteTemplates
from ._telemetry import (
    CIRCUIT_STATE,
    CIRCUIT_TRANSITIONS,
    LOGGER_NAME,
    RATE_LIMIT_WAIT,
    TRACER,
    BoundOnce,
    quiet_httpx_request_log,
)
from ._transport import PooledTransport, wants_httpx_transport

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType
    from uuid import UUID

    from ._settings import HttpClientSettings


# A limiter wait shorter than this is bookkeeping, not a wait worth a metric sample.
_MIN_WAIT = 0.001
# Routes are literals in adapter code; the bound only matters for a misuse (ids in the route).
_ROUTE_CACHE_SIZE = 512


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, which reads an answer only when it sets a cookie.

    `httpx.AsyncClient` hands every answer to `extract_cookies`, which wraps the request and
    the answer in `urllib` objects for `http.cookiejar` to read: a call costs 15.7 % more CPU
    with that (bench/fastpaths_bench.py, docs/fastpaths.md), spent on answers that have no
    cookie to extract. `http.cookiejar` reads only `Set-Cookie` and `Set-Cookie2`: without
    either header the jar cannot change, and the call is skipped.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class ApiClient:
    """The base of one external API's adapter (EX-1): subclass it once per API.

    An adapter is built from its `HttpClientSettings`, which cannot exist without the four
    timeouts and the total deadline (EX-2); it holds one connection pool and turns every outcome
    into a `TemporaryError` or a `PermanentError` (EX-4). Each call:

    * waits for the adapter's rate limiter, and for any pause a 429 or an empty quota set;
    * is refused fast with `CircuitOpenError` while the breaker is open;
    * is retried with full-jitter exponential backoff or `Retry-After`, within its attempts and
      its deadline, only when repeating it cannot apply its effect twice (EX-3);
    * writes one log line (method, route template, status, attempts, duration), a duration
      sample and a CLIENT span, and propagates the trace context (EX-5).

        class MailApi(ApiClient):
            name = "mail-api"
            idempotency_header = "Idempotency-Key"      # the API deduplicates by it
            personal_fields = frozenset({"to", "name"})  # masked in debug bodies

            async def send(self, mail: Mail, *, key: str) -> str:
                data = await self.request_json(
                    "POST", "/v1/messages", json=mail.payload(), idempotency_key=key
                )
                return str(data["id"])

    Class attributes a subclass sets:
        name: the adapter's name in logs, metrics and errors (lowercase kebab-case).
        auth_header: the header that carries `settings.api_key`.
        auth_scheme: its prefix (`Bearer`), or None for a bare key (`X-Api-Key: ...`).
        idempotency_header: the header by which the API deduplicates requests, or None when it
            does not: then a POST or PATCH is not retried once it may have been sent.
        request_id_headers: where the API puts its request id, first found wins.
        personal_fields: JSON fields never logged, at any depth (case-insensitive).
        default_headers: fixed non-secret headers sent with every request.
    """

    name: ClassVar[str]
    auth_header: ClassVar[str] = "Authorization"
    auth_scheme: ClassVar[str | None] = "Bearer"
    idempotency_header: ClassVar[str | None] = None
    request_id_headers: ClassVar[tuple[str, ...]] = (
        "x-request-id",
        "request-id",
        "x-amzn-requestid",
        "x-amz-request-id",
        "x-correlation-id",
    )
    personal_fields: ClassVar[frozenset[str]] = frozenset()
    default_headers: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        check_adapter_class(cls)
        cls.personal_fields = frozenset(field.lower() for field in cls.personal_fields)

    def __init__(
        self,
        settings: HttpClientSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Build the adapter and its connection pool; nothing is sent until the first call.

        Args:
            settings: the API's validated settings.
            transport: an httpx transport to send through (a test double in a service's unit
                tests). By default `PooledTransport`, aiohttp's pool under httpx; httpx's own
                when a proxy from the environment applies to the base URL.

        Raises:
            AdapterDefinitionError: the class has no valid `name`, or `settings` is not a
                validated `HttpClientSettings` with every timeout and the deadline set.
        """
        name = check_adapter_name(type(self))
        check_settings(type(self).__qualname__, settings)
        self.settings = settings
        auth = None
        if settings.api_key is not None:
            auth = KeyAuth(self.auth_header, self.auth_scheme, settings.api_key)
        limits = httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_keepalive_connections,
            keepalive_expiry=settings.keepalive_expiry,
        )
        if transport is None and not wants_httpx_transport(settings.base_url):
            transport = PooledTransport(limits=limits)
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.write_timeout,
                pool=settings.pool_timeout,
            ),
            limits=limits,
            auth=auth,
            headers=dict(self.default_headers),
            follow_redirects=False,
            transport=transport,
        )
        # The setter would copy the jar back into httpx's own class (httpx is pinned; the
        # fast-path test fails if the attribute stops being the client's jar).
        self._http._cookies = _Cookies(self._http.cookies)  # noqa: SLF001
        base = urlsplit(settings.base_url)
        self._server = (base.hostname or "", base.port or (443 if base.scheme == "https" else 80))
        # What `_build_request` joins paths to, and the timeouts httpx puts on each request.
        prefix = self._http.base_url  # httpx gives it a trailing slash
        self._url_prefix = f"{prefix.scheme}://{prefix.netloc.decode()}{prefix.raw_path.decode()}"
        self._timeouts = self._http.timeout.as_dict()
        self._routes = RouteTemplates()
        self._route_infos: dict[tuple[str, str], RouteInfo] = {}
        self._backoff = Backoff(settings.retry_backoff_initial, settings.retry_backoff_max)
        self._limiter = RateLimiter(rate=settings.rate_limit, period=settings.rate_period)
        self._breaker = CircuitBreaker(
            threshold=settings.breaker_threshold,
            reset_timeout=settings.breaker_reset_timeout,
            on_change=self._circuit_changed,
        )
        self._log = BoundOnce(LOGGER_NAME)
        CIRCUIT_STATE.labels(name).set(CircuitState.CLOSED)
        quiet_httpx_request_log()

    @property
    def circuit_state(self) -> CircuitState:
        """The state of this adapter's circuit breaker."""
        return self._breaker.state

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        route: str,
        *,
        path: Mapping[str, PathValue | UUID] | None = None,
        params: Mapping[str, QueryValue] | None = None,
        json: object = UNSET,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
        deadline: float | None = None,
    ) -> httpx.Response:
        """Call the API and return its 2xx response, body read; raise an `ExternalApiError` else.

        Args:
            method: the HTTP method.
            route: the route template relative to the base URL, `/v1/users/{user_id}`; it
                names the call in logs, metrics and spans, so ids go in `path`, never in it.
            path: the values of the route's placeholders (URL-quoted).
            params: the query string (never logged at info level).
            json: a body to send as JSON.
            content: a raw body.
            headers: extra non-secret headers.
            idempotency_key: the key by which the API deduplicates this call (derive it from
                what the call is for, such as a message id). When the adapter declares an
                `idempotency_header` and none is given, a POST/PATCH gets a generated one.
                The same key goes with every attempt.
            idempotent: whether repeating the request is safe; by default, safe methods
                (GET, PUT, DELETE...) and requests carrying an idempotency key are.
            deadline: seconds the whole call may take, instead of `settings.deadline`.

        Raises:
            TemporaryError: retrying later may succeed (a subclass says why).
            PermanentError: retrying cannot succeed (a subclass says why).
            AdapterUsageError: the call is malformed; nothing was sent.
        """
        spec = RequestSpec(
            method=method, route=route, path=path, params=params, json=json, content=content,
            headers=headers, idempotency_key=idempotency_key, idempotent=idempotent,
            deadline=deadline,
        )  # fmt: skip
        response, _ = await self._perform(spec, decode=False)
        return response

    async def request_json(
        self,
        method: str,
        route: str,
        *,
        path: Mapping[str, PathValue | UUID] | None = None,
        params: Mapping[str, QueryValue] | None = None,
        json: object = UNSET,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
        deadline: float | None = None,
    ) -> Any:  # noqa: ANN401  (a JSON document; the adapter maps it to its own types)
        """Like `request`, and decode the body as JSON (None for an empty body).

        Raises:
            MalformedResponseError: the body is not valid JSON (permanent, not retried).
        """
        spec = RequestSpec(
            method=method, route=route, path=path, params=params, json=json, content=content,
            headers=headers, idempotency_key=idempotency_key, idempotent=idempotent,
            deadline=deadline,
        )  # fmt: skip
        _, data = await self._perform(spec, decode=True)
        return data

    def redact(self, body: object) -> object:
        """Return a JSON body fit for a debug log: personal and secret-looking fields masked.

        Override to redact more (free text, nested documents); the default masks the fields in
        `personal_fields` and every field named like a secret, at any depth (EX-5).
        """
        return redact_fields(body, self.personal_fields)

    def error_detail(self, response: httpx.Response) -> str | None:  # noqa: ARG002  (a hook)
        """Return a short, safe description of an error response (an API error code), or None.

        The default says nothing, so an error never carries the body. An adapter may read its
        API's error code here; it must not return personal data or echo the request.
        """
        return None

    async def _perform(self, spec: RequestSpec, *, decode: bool) -> tuple[httpx.Response, Any]:
        call = self._prepare(spec)
        route = self._route_info(call.method, call.route)
        started = time.perf_counter()
        # `start_span`, not `start_as_current_span`: the span is made current only when it
        # records, the one case where something (the log line's trace ids) reads it back; the
        # trace context goes out in the headers either way.
        span = TRACER.start_span(
            route.span_name,
            kind=SpanKind.CLIENT,
            attributes=route.span_attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        span_context = trace.set_span_in_context(span)
        token = otel_context.attach(span_context) if span.is_recording() else None
        try:
            propagate.inject(call.request.headers, context=span_context)
            response: httpx.Response | None = None
            error: BaseException | None = None
            try:
                response = await self._send(call)
                data = self._decode(call, response) if decode else None
            except BaseException as exc:
                error, response = exc, None
                raise
            finally:
                report_call(
                    self._log, call, route, span, duration=time.perf_counter() - started,
                    response=response, error=error,
                )  # fmt: skip
                if self.settings.log_bodies:
                    logger = self._log.get()
                    if debug_enabled(logger):
                        log_bodies(logger, call, response, self.redact)
            return response, data
        finally:
            if token is not None:
                otel_context.detach(token)
            span.end()

    def _route_info(self, method: str, route: str) -> RouteInfo:
        key = (method, route)
        info = self._route_infos.get(key)
        if info is None:
            info = RouteInfo(self.name, method, route, self._server)
            if len(self._route_infos) < _ROUTE_CACHE_SIZE:
                self._route_infos[key] = info
        return info

    def _prepare(self, spec: RequestSpec) -> Call:
        plan = plan_request(
            spec,
            adapter=self.name,
            idempotency_header=self.idempotency_header,
            default_deadline=self.settings.deadline,
        )
        request = self._build_request(
            plan.method,
            self._routes.format(spec.route, spec.path),
            params=spec.params,
            content=plan.content,
            headers=plan.headers,
        )
        return Call(
            adapter=self.name,
            method=plan.method,
            route=spec.route,
            request=request,
            idempotent=plan.idempotent,
            idempotency_key=plan.idempotency_key,
            deadline=plan.deadline,
            max_attempts=self.settings.retry_attempts,
            backoff=self._backoff,
            retry_after_max=self.settings.retry_after_max,
        )

    def _build_request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> httpx.Request:
        """Return the request `httpx.AsyncClient.build_request` would, for half its CPU.

        `build_request` parses the relative URL, joins it to the base URL and parses the result
        again, and rebuilds the timeout dict, for every request. Here the base URL is joined as
        text and parsed once. The client's own headers and timeouts go in exactly as httpx
        merges them; with cookies in the client's jar (an API that sets some), or a path httpx
        would read as a network-path reference (`//host`), httpx builds the request itself.
        """
        client = self._http
        if path.startswith("//") or client.cookies:
            return client.build_request(
                method, path, params=params, content=content, headers=headers
            )
        merged = client.headers
        if headers:
            merged = httpx.Headers(merged)
            merged.update(headers)
        return httpx.Request(
            method,
            self._url_prefix + path.lstrip("/"),
            params=params or None,
            content=content,
            headers=merged,
            extensions={"timeout": dict(self._timeouts)},
        )

    async def _send(self, call: Call) -> httpx.Response:
        # The total deadline (EX-2): `asyncio.timeout_at`, whose own cancellation, and only
        # that one, becomes DeadlineExceededError; a cancellation from outside stays one.
        timeout = asyncio.timeout_at(call.deadline_at)
        try:
            async with timeout:
                return await run_with_retries(call, self._attempt)
        except ExternalApiError as error:
            error.attempts = call.attempts
            raise
        except TimeoutError as exc:
            if not timeout.expired():
                raise
            last = call.last_error
            raise DeadlineExceededError(
                f"deadline of {call.deadline:g}s exceeded",
                adapter=self.name,
                method=call.method,
                route=call.route,
                reason="deadline",
                status=last.status if last is not None else None,
                request_id=last.request_id if last is not None else None,
                attempts=call.attempts,
            ) from exc

    async def _attempt(self, call: Call) -> httpx.Response:
        call.attempts += 1
        paused = self._limiter.paused_for
        if paused > 0 or self._limiter.limited:  # else acquire() would return at once
            await self._wait_for_limiter(call, paused)
        admission = self._breaker.admit()
        while admission.probe_out:
            # Half-open with its probe out: wait for its verdict (within this call's deadline)
            # rather than fail a call the upstream may answer now.
            await self._breaker.verdict()
            admission = self._breaker.admit()
        if not admission.allowed:
            raise self._error(
                CircuitOpenError, call, "circuit open: failing fast",
                reason="circuit_open", retry_after=admission.retry_after,
            )  # fmt: skip
        outcome = Outcome.NEUTRAL
        try:
            try:
                response = await self._http.send(call.request)
            except httpx.HTTPError as exc:
                cls, reason, message = transport_failure(exc)
                error = self._error(cls, call, message, reason=reason)
                outcome = Outcome.FAILED if error.temporary else Outcome.NEUTRAL
                raise error from exc
            except asyncio.CancelledError:
                if call.remaining() <= 0:
                    outcome = Outcome.FAILED  # the upstream was too slow for our deadline
                raise
            # One pass over the headers: httpx's case-insensitive lookups scan them every time.
            headers = dict(response.headers.items())
            call.request_id = request_id_of(headers, self.request_id_headers)
            status = response.status_code
            self._note_rate_limits(call, status, headers)
            if 200 <= status < 300:  # noqa: PLR2004
                outcome = Outcome.HEALTHY
                return response
            # 429 is throttling, not sickness: the limiter deals with it, the breaker does not.
            if status == 408 or status >= 500:  # noqa: PLR2004
                outcome = Outcome.FAILED
            elif status != 429:  # noqa: PLR2004
                outcome = Outcome.HEALTHY
            raise self._status_error(call, response, headers)
        finally:
            self._breaker.record(admission, outcome)

    async def _wait_for_limiter(self, call: Call, paused: float) -> None:
        if paused > 0 and paused >= call.remaining():
            raise self._error(
                RateLimitedError, call, "rate limited: the pause outlasts the deadline",
                reason="rate_limited", retry_after=paused,
            )  # fmt: skip
        waited = await self._limiter.acquire()
        if waited >= _MIN_WAIT:
            RATE_LIMIT_WAIT.labels(self.name).observe(waited)

    def _note_rate_limits(self, call: Call, status: int, headers: dict[str, str]) -> None:
        now = time.time()
        if status == 429:  # noqa: PLR2004
            wait = retry_after_of(headers, now=now)
            if wait is None:
                wait = rate_limit_reset_of(headers, now=now)
            if wait is None:
                wait = self._backoff.delay(call.attempts)
        else:
            wait = rate_limit_reset_of(headers, now=now)
        if wait is not None:
            self._limiter.pause(min(wait, self.settings.retry_after_max))

    def _status_error(
        self,
        call: Call,
        response: httpx.Response,
        headers: dict[str, str],
    ) -> ExternalApiError:
        status = response.status_code
        try:
            detail = self.error_detail(response)
        except Exception:  # noqa: BLE001  (a faulty hook must not hide the upstream's answer)
            detail = None
        return self._error(
            error_class_for_status(status),
            call,
            f"HTTP {status} {response.reason_phrase}".rstrip(),
            reason="status",
            status=status,
            request_id=call.request_id,
            retry_after=retry_after_of(headers, now=time.time()),
            detail=detail,
        )

    def _error(
        self,
        cls: type[ExternalApiError],
        call: Call,
        message: str,
        *,
        reason: str,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> ExternalApiError:
        return cls(
            message,
            adapter=self.name,
            method=call.method,
            route=call.route,
            reason=reason,
            status=status,
            request_id=request_id,
            retry_after=retry_after,
            attempts=call.attempts,
            detail=detail,
        )

    def _decode(self, call: Call, response: httpx.Response) -> Any:  # noqa: ANN401  (JSON)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            # Not chained: the decoder's exception keeps the whole document in `.doc`.
            raise self._error(
                MalformedResponseError, call, "response body is not valid JSON",
                reason="malformed_response", status=response.status_code,
                request_id=call.request_id,
            ) from None  # fmt: skip

    def _circuit_changed(self, old: CircuitState, new: CircuitState) -> None:
        CIRCUIT_STATE.labels(self.name).set(new)
        CIRCUIT_TRANSITIONS.labels(self.name, new.name.lower()).inc()
        self._log.get().log(
            logging.WARNING if new is CircuitState.OPEN else logging.INFO,
            "external_api_circuit",
            adapter=self.name,
            old=old.name.lower(),
            new=new.name.lower(),
        )
