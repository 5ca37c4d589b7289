"""The redeploy strategy: a fleet member deleted by a Delete-policy eviction comes back as a new VM, built from its
profile's template and what respot knew of it, on the best candidate size x region x zone. A sub-orchestration of
``recover_vm``. Event sequence of a replacement whose first choice is out of capacity::

    recovery_policy, fleet_profile          the operator's policy and the member's profile, from settings
    signal_entity offerings.cool            the evicted VM's own offering cools down (evicted), once per recovery
    call_entity offerings.get               offerings cooling down (shared by every recovery)
    gather_market                           SKUs, quota, spot prices, eviction rates, placement scores
    -> rank: custom status lists each candidate's factors, what is excluded and why, and the choice
    create_vm attempt 1 -> accepted         guard reads (the evicted VM is gone, this name is free), then PUT
    timer, check_operation -> failed AllocationFailed
    signal_entity offerings.cool            that offering cools down for every recovery; delete_vm the failed one
    signal_entity roster.forget             respot deletes it itself: the sweep must not miss it
    create_vm attempt 2 -> accepted         the next candidate (a new deterministic name)
    timer, check_operation -> done; read_vm -> running; timer healthy_seconds; read_vm -> still running
    signal_entity offerings.held            the replacement holds there: that offering's failures are forgotten
    signal_entity member.remember           the replacement is a member now: its own eviction can be undone
    -> output: old -> new, the ranking and the walk

Failures by class (orchestrator.domain.walk): quota skips the family in that region, SkuNotAvailable the size,
capacity cools the offering, a price error skips the size by price, a configuration error fails the recovery, ARM
trouble tries the same create again later (the guard read makes a retried PUT harmless). The evicted VM's own
offering is not excluded: it cools down like any other and is a candidate again when that ends. An offering whose
fresh placement score is Low waits for a better one (a probe of the best one an hour after the last create). When
no candidate is left the recovery waits on the restart schedule, or until the first of the fleet's cool-downs ends
or the placement scores are renewed, if that comes sooner (``Backoff.next_round``), and ranks again with fresh data
until the deadline; a Regular VM is created instead
when the profile's fallback allows it. Every limit that waiting cannot lift (no quota anywhere,
restricted sizes) ends the recovery at once with the table of reasons: never a loop that cannot succeed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from orchestrator.domain.errors import Failure
from orchestrator.domain.fleet import FallbackMode, Profile
from orchestrator.domain.memory import MEMBER, OFFERINGS, PLACEMENTS, SHARED, cooled_until, cooling
from orchestrator.domain.models import (
    InvalidInput,
    Outcome,
    Reason,
    Step,
    StepResult,
    VmFacts,
    VmRef,
    VmStatus,
    iso,
    parse_iso,
)
from orchestrator.domain.placement import (
    Candidate,
    Market,
    Offering,
    candidates,
    good_shares,
    low_probe_due,
    market_from_dict,
    one_probe,
    rank,
    renewal,
    round_ends,
    waiting_for_score,
    why_chosen,
)
from orchestrator.domain.policy import MAX_UNKNOWN_FAILURES, TASKS_PER_EXECUTION, Policy
from orchestrator.domain.schedule import CREATE_FIRST_LOOK, SHORT
from orchestrator.domain.scope import vm_hash
from orchestrator.domain.story import Story
from orchestrator.domain.template import Member, replacement_name
from orchestrator.domain.vmstate import is_recovered
from orchestrator.domain.walk import Verdict, Walk, fallback_due, verdict
from orchestrator.workflows import names
from orchestrator.workflows.flow import Context, EntityIds, Flow, Steps
from orchestrator.workflows.lro import watch
from orchestrator.workflows.strategy import Conclusion, Waits, load_progress

SHOWN = 10  # candidates listed in the custom status (the output has up to MAX_LISTED)
MAX_LISTED = 40
MAX_WALK = 60  # tries kept in the output (the story counts them all)
P = TypeVar("P")
PERSISTENT = ("not offered", "restricted", "cannot run as spot", "below the profile", "architecture", "family", "quota")
MAX_DELETE_TRIES = 3  # a failed replacement's delete asked again after no answer (each look reads it first)


@dataclass
class Progress:
    """What a redeploy carries across continue-as-new."""

    started_at: str
    since: str
    story: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0  # creates issued so far: attempt n's VM is replacement_name(member, recovery, n)
    rounds: int = 0  # rankings that found nothing to create: drives the backoff
    spot_lost_at: str | None = None  # the first round without a spot candidate (a Regular fallback counts from it)
    current: dict[str, Any] | None = None  # the attempt in flight: {attempt, offering, spot, raised}
    walk: list[dict[str, Any]] = field(default_factory=list)
    ranking: dict[str, Any] | None = None
    unknown_failures: int = 0
    executions: int = 1
    last_error: dict[str, Any] | None = None
    evicted_cooled: bool = False  # the evicted VM's own offering was cooled down (the recovery's first round)
    last_create_at: str | None = None  # the last Spot create's issue (a Low-scored offering's probe counts from it)

    @classmethod
    def from_dict(cls, data: Any) -> Progress:
        """Raises InvalidInput unless ``data`` is a progress as this module writes it."""
        progress = load_progress(cls, data, ("attempt", "rounds", "unknown_failures", "executions"))
        for name in ("spot_lost_at", "last_create_at"):
            if getattr(progress, name) is not None:
                parse_iso(getattr(progress, name), f"progress.{name}")
        if progress.current is not None:
            _attempt_of(progress.current)
        if not isinstance(progress.walk, list) or len(progress.walk) > MAX_WALK:
            raise InvalidInput("progress: walk must be a short list")
        return progress


@dataclass(frozen=True)
class Attempt:
    number: int
    offering: Offering
    spot: bool
    raised: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"attempt": self.number, "offering": self.offering.key, "spot": self.spot, "raised": self.raised}


def _attempt_of(data: Any) -> Attempt:
    try:
        number = int(data["attempt"])
        offering = Offering.from_key(str(data["offering"]))
        return Attempt(number, offering, data.get("spot") is not False, data.get("raised") is True)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"progress.current: {exc}") from None


@dataclass(frozen=True)
class Start(Generic[P]):
    """What a fleet orchestration begins with: its VM and member, the operator's policy, the member's profile."""

    flow: Flow
    vm: VmRef
    member: Member
    profile: Profile
    policy: Policy
    progress: P


def begin(context: Context, entity_id: EntityIds, progress: Callable[[dict[str, Any], datetime], P]) -> Steps:
    """A :class:`Start`, or the output that ends the orchestration at once (a bad input, no profile)."""
    data = context.get_input()
    try:
        if not isinstance(data, dict):
            raise InvalidInput("the input must be an object")
        vm, member = VmRef.from_dict(data.get("vm")), Member.from_dict(data.get("member"))
        carried = progress(data, context.current_utc_datetime)
    except (InvalidInput, TypeError, ValueError, KeyError) as exc:
        return {"outcome": Outcome.REJECTED.value, "reason": Reason.BAD_INPUT.value, "detail": str(exc)}
    flow = Flow(context, entity_id=entity_id)
    asks = [(names.RECOVERY_POLICY, None), (names.FLEET_PROFILE, {"member": member.to_dict()})]
    policy_raw, profile_raw = yield from flow.together(asks)  # neither reads ARM: one hop, not two
    policy, found = Policy.from_dict(policy_raw), StepResult.from_dict(profile_raw)
    if found.step != Step.OK or not isinstance(found.value, str):
        return _not_protected(found, member)
    return Start(flow, vm, member, Profile.model_validate_json(found.value), policy, carried)


def redeploy_vm(context: Context, entity_id: EntityIds) -> Steps:
    start = yield from begin(context, entity_id, _progress)
    if not isinstance(start, Start):
        return start
    flow, vm, member, progress = start.flow, start.vm, start.member, start.progress
    run = Redeploy(flow, vm, member, start.profile, start.policy, progress)
    conclusion = yield from run.until_budget()
    if conclusion is None:
        return run.carry_on()
    return run.output(conclusion)


def _progress(data: dict[str, Any], now: datetime) -> Progress:
    if data.get("progress") is not None:
        return Progress.from_dict(data["progress"])
    return Progress(started_at=iso(now), since=iso(parse_iso(data.get("since"), "since")))


def _not_protected(found: StepResult, member: Member) -> dict[str, Any]:
    detail = (
        f"{found.reason or found.step.value}: no fleet profile protects {member.name}. To enrol a Delete-policy VM, "
        "give it a profile's membership tag (respot-fleet=<name>) and list that profile in RESPOT_FLEETS_FILE"
    )
    return {"outcome": Outcome.NOT_PROTECTED.value, "reason": Reason.NO_FLEET.value, "detail": detail}


class Redeploy(Waits):
    CREATE = names.CREATE_VM  # the activity that PUTs an attempt's VM (orchestrator.workflows.revert has its own)
    LOW_WAITS = True  # a fresh Low placement score keeps a Spot candidate out (the return to Spot has its own gate)

    def __init__(
        self, flow: Flow, vm: VmRef, member: Member, profile: Profile, policy: Policy, progress: Progress
    ) -> None:
        self.flow, self.vm, self.member, self.profile, self.policy, self.p = flow, vm, member, profile, policy, progress
        self.story = Story.from_dict(progress.story)
        self.started = parse_iso(progress.started_at, "started_at")
        self.deadline = self.started + policy.backoff.deadline
        self.replacement: dict[str, Any] | None = None
        self.members: dict[str, int] = {}  # the fleet's live members by priority, as the last market read counted
        self.memory: dict[str, dict[str, Any]] = {}  # the offerings entity as last read, with this recovery's cools

    def carry_on(self) -> None:
        """Continue as new with the progress so far: the next execution's history starts short."""
        self.p.story, self.p.executions = self.story.to_dict(), self.p.executions + 1
        self.status("continuing")
        payload = {"vm": self.vm.to_dict(), "member": self.member.to_dict(), "progress": asdict(self.p)}
        self.flow.context.continue_as_new(payload)

    # --- rounds: rank, walk the list, wait ------------------------------------------------------------------

    def until_budget(self) -> Steps:
        """Rounds until a conclusion, or None when this execution has used its share of durable tasks."""
        if not self.p.evicted_cooled:  # a mass eviction must not pile back in; a candidate again after the cool-down
            self.cool(self.member.offering, "evicted")
            self.p.evicted_cooled = True
        if self.p.current is not None:  # an attempt was in flight when the last execution ended: see it through
            verdict_ = yield from self.attempt(_attempt_of(self.p.current))
            if isinstance(verdict_, Conclusion):
                return verdict_
        return (yield from self.repeat(self.round))

    def round(self) -> Steps:
        if self.flow.now >= self.deadline:
            return self.give_up()
        market = yield from self.market()
        if isinstance(market, Conclusion) or market is None:
            return market
        ranked_at, waiting = self.flow.now, False
        for spot in (False, True) if self.below_regular_floor() else (True, False):
            if not spot and not self.fallback_allowed():
                continue
            walk, found = yield from self.ranked(market, spot)
            self.publish_ranking(found, walk.ranked, spot)
            outcome = yield from self.walk(walk, spot)
            if outcome is not None:
                return outcome
            if spot and self.p.spot_lost_at is None:
                self.p.spot_lost_at = iso(self.flow.now)
            waiting = waiting or (spot and waiting_for_score(found))
        if self.flow.tasks >= TASKS_PER_EXECUTION:
            return None
        hopeless = self.hopeless(market)
        if hopeless is not None:
            return hopeless
        return (yield from self.backoff(market, ranked_at, waiting))

    def market(self) -> Steps:
        """Today's market with the shared cool-downs, a Conclusion (refused, failed), or None (waited out trouble)."""
        cooled = yield from self.cooled()
        payload = {"vm": self.vm.to_dict(), "member": self.member.to_dict()}
        result = yield from self.flow.ask(
            names.GATHER_MARKET, payload, self.story, deadline=self.deadline, budget=TASKS_PER_EXECUTION, action="rank"
        )
        if result.step == Step.OK and isinstance(result.value, str):
            market = renewal(market_from_dict(json.loads(result.value)), self.flow.now)
            self.members = dict(market.members)
            return replace(market, cooled=cooled)
        if result.step == Step.OUT_OF_SCOPE:
            return Conclusion(Outcome.IGNORED, Reason.OUT_OF_SCOPE, result.reason)
        if result.step == Step.FAILED and result.failure is not None:
            self.p.last_error = result.failure.to_dict()
            if Failure(result.failure.kind) == Failure.CONFIG:
                return Conclusion(Outcome.FAILED, Reason.CONFIG, f"{result.failure.code}: {result.failure.message}")
        return (yield from self.wait(self.flow.now + timedelta(seconds=SHORT), "waiting"))

    def cooled(self) -> Steps:
        try:
            live = yield from self.flow.call_entity(OFFERINGS, SHARED, "get", {"now": iso(self.flow.now)})
        except Exception as exc:  # noqa: BLE001 - no memory is worse ranking, never a failed recovery
            self.record("cooldowns", "failed", "entity", str(exc)[:200])
            return cooled_until(self.memory)
        if isinstance(live, dict):
            self.memory = {str(k): v for k, v in live.items() if isinstance(v, dict)}
        return cooled_until(self.memory)

    def ranked(self, market: Market, spot: bool) -> Steps:
        """(the walk, every candidate). Among the good candidates (within a point of the best) the shared
        ``placements`` entity deals a wave out by score, at most two thirds to one offering, so a wave of members spreads
        instead of piling into one place that may be reclaimed next."""
        probe = spot and self.LOW_WAITS and self.probe_due()
        low = probe or not self.LOW_WAITS
        found = candidates(self.profile, market, now=self.flow.now, spot=spot, cap=self.cap(market), probe_low=low)
        ordered = rank(
            found,
            strategy=self.profile.strategy,
            home_region=self.member.region,
            stale=market.placement_stale,
            spread=self.member.name,
        )
        if probe:
            ordered, found = one_probe(ordered, found, market)
        head = good_shares(ordered) if self.profile.strategy == "ranked" else []
        if len(head) > 1:
            chosen = yield from self.place([c.offering.key for c, _ in head], [w for _, w in head])
            ordered = sorted(ordered, key=lambda c: c.offering.key != chosen)  # stable: the rest keep their order
        families = {k: sku.family for (_, k), sku in market.skus.items()}
        return Walk(ordered, families=families), found

    def probe_due(self) -> bool:
        """The best Low-scored Spot candidate is tried: an hour after this recovery's last create (or its start), or
        when a Regular fallback would come and nothing was created since Spot was lost (Spot is asked once before
        the fallback is paid for)."""
        last = parse_iso(self.p.last_create_at, "last_create_at") if self.p.last_create_at else None
        if low_probe_due(last or self.started, self.flow.now):
            return True
        if self.profile.fallback.mode != FallbackMode.AFTER_MINUTES:
            return False  # keep_regular tries Regular first below its floor, and never above it
        lost = parse_iso(self.p.spot_lost_at, "spot_lost_at") if self.p.spot_lost_at else None
        return self.fallback_allowed() and (last is None or (lost is not None and last <= lost))

    def place(self, keys: list[str], weights: list[float]) -> Steps:
        payload = {"keys": keys, "weights": weights, "by": self.recovery, "at": iso(self.flow.now)}
        try:
            chosen = yield from self.flow.call_entity(PLACEMENTS, SHARED, "place", payload)
        except Exception as exc:  # noqa: BLE001 - no spreading is a worse choice, never a failed recovery
            self.record("placements", "failed", "entity", str(exc)[:200])
            return keys[0]
        return chosen if chosen in keys else keys[0]

    def cap(self, market: Market) -> float | Literal["profile"] | None:
        """The profile's cap, or after a price eviction under ``price_policy: raise``, its ceiling."""
        if self.profile.price_policy == "raise" and self.price_evicted(market):
            caps = [c for c in (self.profile.price_ceiling, self.profile.constraints.max_spot_price) if c]
            return min(caps) if caps else None  # the ceiling, never above the constraints' own cap
        return "profile"

    def price_evicted(self, market: Market) -> bool:
        """The evicted member's own max price is below its offering's spot price now: a price eviction."""
        price = market.spot_prices.get((self.member.size.lower(), self.member.region))
        return self.member.max_price > 0 and price is not None and price > self.member.max_price

    def below_regular_floor(self) -> bool:
        """``keep_regular``: while fewer than ``keep`` members are Regular, a replacement is Regular first."""
        fallback = self.profile.fallback
        return fallback.mode == FallbackMode.KEEP_REGULAR and self.members.get("Regular", 0) < fallback.keep

    def fallback_allowed(self) -> bool:
        lost = parse_iso(self.p.spot_lost_at, "spot_lost_at") if self.p.spot_lost_at else self.flow.now
        regular = self.members.get("Regular", 0)
        return fallback_due(self.profile, spot_lost_at=lost, now=self.flow.now, regular_members=regular)

    def hopeless(self, market: Market) -> Conclusion | None:
        """Every candidate fails a limit that waiting cannot lift, and no fallback is coming: say so, now."""
        every = candidates(self.profile, market, now=self.flow.now, spot=True, cap=None)
        lasting = [c for c in every if any(word in c.excluded.lower() for word in PERSISTENT)]
        if len(lasting) < len(every) or self.profile.fallback.mode != "never":
            return None
        reasons = sorted({c.excluded for c in lasting})
        offered = [c for c in lasting if not c.excluded.startswith("not offered")]
        quota = bool(offered) and all("quota" in c.excluded for c in offered)
        detail = f"no candidate of fleet {self.profile.name} can be created: " + "; ".join(reasons[:8])
        return Conclusion(Outcome.FAILED, Reason.QUOTA if quota else Reason.NO_CANDIDATE, detail[:600])

    def walk(self, walk: Walk, spot: bool) -> Steps:
        """Down the ranked list: a Conclusion on success or a failure that ends the recovery, else None."""
        while self.flow.tasks < TASKS_PER_EXECUTION:
            choice = walk.next()
            if choice is None:
                return None
            self.p.attempt += 1
            if spot:  # the hourly probe counts from the last Spot create (a failing Regular one must not defer it)
                self.p.last_create_at = iso(self.flow.now)
            raised = spot and self.cap_raised(choice)
            outcome = yield from self.attempt(Attempt(self.p.attempt, choice.offering, spot, raised))
            if isinstance(outcome, Conclusion):
                return outcome
            walk.record(choice.offering, outcome)
        return None

    def cap_raised(self, choice: Candidate) -> bool:
        cap = self.profile.max_price
        return self.profile.price_policy == "raise" and cap != -1 and (choice.price or 0) > cap

    # --- one attempt: create, watch, warm up ------------------------------------------------------------------

    def attempt(self, attempt: Attempt) -> Steps:
        """Verdict (this candidate is out; try the next), "again" (ARM trouble: the next round), or a Conclusion."""
        self.p.current = attempt.to_dict()
        target, again = self.target(attempt), False
        while True:
            self.status("creating", choice=attempt.to_dict(), name=target.name)
            payload = {
                "vm": self.vm.to_dict(),
                "member": self.member.to_dict(),
                "recovery": self.recovery,
                **attempt.to_dict(),
                "again": again,  # asked again after a wait: an earlier PUT's outcome may be unknown, so read first
            }
            again = True
            created = yield from self.flow.ask(
                self.CREATE,
                payload,
                self.story,
                deadline=self.deadline,
                budget=2 * TASKS_PER_EXECUTION,
                action="create",
            )
            ended = yield from self.created(created, attempt)
            if ended is not None:
                if not isinstance(ended, Conclusion):
                    self.p.current = None
                return ended
            if self.flow.now >= self.deadline:
                self.p.current = None
                return self.give_up()

    def created(self, result: StepResult, attempt: Attempt) -> Steps:
        """What the create's answer means; None: ask again (the guard read settles a create without an answer)."""
        if result.step == Step.ACCEPTED and result.operation is not None:
            self.status("watching", choice=attempt.to_dict())
            result = yield from watch(self.flow, result.operation, self.story, budget=None, first=CREATE_FIRST_LOOK)
        if result.step in (Step.DONE, Step.SKIPPED) and result.reason in ("", "exists", None):
            done = result.step == Step.DONE and not self.policy.require_health  # the create's own word: running
            return (yield from self.warm_up(attempt, running=done))
        if result.step == Step.SKIPPED and result.reason == "fleet_full":
            detail = f"fleet {self.profile.name} has {result.value} live members (desired {self.profile.desired})"
            return Conclusion(Outcome.IGNORED, Reason.FLEET_FULL, detail)
        if result.step == Step.SKIPPED and self.still_going(result.facts):
            self.record("create", "waiting", "EvictedVmBeingDeleted", "the evicted VM is still being deleted")
            yield from self.sleep(self.flow.now + timedelta(seconds=SHORT))
            return None  # the same create again: the guard reads tell
        if result.step == Step.SKIPPED:
            return Conclusion(
                Outcome.STOPPED, Reason.STARTED_MEANWHILE, "the evicted VM exists again: nothing to replace"
            )
        if result.step == Step.FAILED and result.failure is not None:
            return (
                yield from self.failed(
                    attempt, Failure(result.failure.kind), result.failure.code, result.failure.message
                )
            )
        if result.step == Step.OUT_OF_SCOPE:
            if "does not allow" in result.reason:
                self.tried(attempt, Verdict.SKIP_SIZE, "not_allowed", result.reason)
                return Verdict.SKIP_SIZE
            return Conclusion(Outcome.IGNORED, Reason.OUT_OF_SCOPE, result.reason)
        # no answer, throttled or 5xx past the ask's budget: wait (never less than a 429's Retry-After), then the
        # same create again (guard read first)
        self.record("create", result.step.value, result.reason, "the create is asked again after a wait")
        wait = max(timedelta(seconds=SHORT), self.flow.trouble_delay or timedelta(0))
        yield from self.sleep(self.flow.now + wait)
        return None

    def still_going(self, facts: VmFacts | None) -> bool:
        """The evicted VM is there but on its way out (a Delete-policy eviction deallocates, then deletes)."""
        going = (VmStatus.DEALLOCATING, VmStatus.DEALLOCATED, VmStatus.DELETING, VmStatus.STOPPING)
        return facts is not None and facts.exists and facts.status in going and self.flow.now < self.deadline

    def failed(self, attempt: Attempt, kind: Failure, code: str, message: str) -> Steps:
        self.p.last_error = {"kind": kind.value, "code": code, "message": message[:300]}
        outcome = verdict(kind, code)
        if kind == Failure.UNKNOWN:  # a code respot does not know: treated as capacity, MAX_UNKNOWN_FAILURES times
            self.p.unknown_failures += 1
            outcome = Verdict.COOL
        self.tried(attempt, outcome, code, message)
        yield from self.discard(attempt)
        if outcome == Verdict.FAIL:
            return Conclusion(Outcome.FAILED, Reason.CONFIG, f"{code}: {message}"[:600])
        if kind == Failure.UNKNOWN and self.p.unknown_failures >= MAX_UNKNOWN_FAILURES:
            return Conclusion(Outcome.FAILED, Reason.UNKNOWN_ERROR, f"{code}: {message}"[:600])
        if outcome == Verdict.COOL:
            self.cool(attempt.offering, "capacity")
        if outcome == Verdict.AGAIN:
            yield from self.sleep(self.flow.now + timedelta(seconds=SHORT))
        return outcome

    def warm_up(self, attempt: Attempt, *, running: bool = False) -> Steps:
        """The replacement must run (and be healthy, if required) for the profile's healthy_seconds. ``running``:
        its create just succeeded, so it runs now, and the first read is the one at the end of the warm-up."""
        target, held_since = self.target(attempt), None
        if running and self.profile.healthy_seconds > 0:
            held_since = self.flow.now
            due = held_since + timedelta(seconds=self.profile.healthy_seconds)
            self.status("warming", choice=attempt.to_dict(), healthyAt=iso(due))
            yield from self.sleep(due)
        while self.flow.now < self.deadline:
            read = yield from self.flow.ask(
                names.READ_VM,
                {"vm": target.to_dict()},
                self.story,
                deadline=self.deadline,
                budget=2 * TASKS_PER_EXECUTION,
                action="read",
            )
            facts = read.facts if read.step == Step.OK else None
            if facts is not None and self.ready(facts):
                held_since = held_since or self.flow.now
                due = held_since + timedelta(seconds=self.profile.healthy_seconds)
                if self.flow.now >= due:
                    return self.succeeded(attempt, target, facts)
                self.status("warming", choice=attempt.to_dict(), healthyAt=iso(due))
                yield from self.sleep(due)
                continue
            if facts is not None and not self.lost(facts):
                held_since = None  # creating, starting, or not yet healthy: look again shortly
                yield from self.sleep(self.flow.now + timedelta(seconds=SHORT))
                continue
            if read.step in (Step.THROTTLED, Step.TRANSIENT, Step.UNKNOWN):  # past the ask's budget: never less
                wait = max(timedelta(seconds=SHORT), self.flow.trouble_delay or timedelta(0))  # than a Retry-After
                yield from self.sleep(self.flow.now + wait)
                continue
            return (yield from self.lost_in_warm_up(attempt, facts))
        return self.give_up()

    def ready(self, facts: VmFacts) -> bool:
        return is_recovered(facts.codes, health=facts.health, require_health=self.policy.require_health)

    def lost(self, facts: VmFacts) -> bool:
        failed = facts.provisioning_failed is not None
        gone = facts.status in (VmStatus.DEALLOCATED, VmStatus.DEALLOCATING, VmStatus.STOPPED, VmStatus.DELETING)
        return not facts.exists or failed or gone

    def lost_in_warm_up(self, attempt: Attempt, facts: VmFacts | None) -> Steps:
        """Evicted (or failed) before it counted: cool the offering down for everyone and try the next."""
        code = (facts.provisioning_failed if facts else None) or "EvictedDuringWarmUp"
        why = "evicted" if not (facts and facts.provisioning_failed) else "capacity"
        self.tried(attempt, Verdict.COOL, code, f"the replacement was lost while warming up ({why})")
        self.cool(attempt.offering, why)
        if facts is not None and facts.exists:
            yield from self.discard(attempt)
        return Verdict.COOL

    def succeeded(self, attempt: Attempt, target: VmRef, facts: VmFacts) -> Conclusion:
        self.tried(attempt, "succeeded", "", "")
        self.memory.pop(attempt.offering.key, None)
        self.flow.signal_entity(OFFERINGS, SHARED, "held", {"key": attempt.offering.key})
        member = Member.from_facts(target, facts, self.profile.name, iso(self.flow.now))
        self.flow.signal_entity(MEMBER, vm_hash(target), "remember", member.to_dict())
        self.p.last_error = None
        self.replacement = {"old": self.describe_old(), "new": self.describe_new(target, facts, attempt)}
        reason = Reason.REPLACED if attempt.spot else Reason.REPLACED_REGULAR
        return Conclusion(Outcome.RECOVERED, reason, f"replaced by {target.name} on {attempt.offering.key}")

    def discard(self, attempt: Attempt) -> Steps:
        """Delete what a failed create left (the VM resource in Failed state, its NIC): issued, not waited for.
        ARM trouble is waited out and the delete asked again (delete_vm reads first, so asking twice is safe): a
        refused delete left a Failed VM and its disk behind (the soak's ARM faults found one)."""
        payload = {"vm": self.target(attempt).to_dict()}
        ask: dict[str, Any] = {"deadline": self.deadline, "budget": 2 * TASKS_PER_EXECUTION, "action": "delete"}
        result = yield from self.flow.ask(names.DELETE_VM, payload, self.story, **ask)
        for _ in range(MAX_DELETE_TRIES):
            if result.step != Step.UNKNOWN:  # sent, no answer: look again, then delete what is still there
                break
            yield from self.sleep(self.flow.now + timedelta(seconds=SHORT))
            result = yield from self.flow.ask(names.DELETE_VM, payload, self.story, **ask)
        if result.step in (Step.ACCEPTED, Step.DONE):
            self.forget(self.target(attempt))
        else:
            self.record("delete", result.step.value, result.reason, "the failed replacement was not deleted")

    def forget(self, vm: VmRef) -> None:
        """respot deletes ``vm`` itself: off the sweep's roster, or the next sweep misses it and opens a recovery
        that blames a person (respot's own delete is in the Activity Log like anyone's)."""
        payload = {"id": vm.id, "at": iso(self.flow.now)}
        self.flow.signal_entity(names.ROSTER_ENTITY, vm.subscription, "forget", payload)

    def unforget(self, vm: VmRef) -> None:
        """The delete that :meth:`forget` announced did not happen: ``vm`` stays, and its eviction must be missed."""
        self.flow.signal_entity(names.ROSTER_ENTITY, vm.subscription, "unforget", {"id": vm.id})

    def cool(self, offering: Offering, why: str) -> None:
        """One more failure there, for every recovery: the entity counts the strikes; this recovery's own view
        (``memory``) follows the same rule, so its next round is due when the cool-down really ends."""
        now, by = self.flow.now, self.recovery
        self.memory[offering.key] = cooling(self.memory.get(offering.key), why=why, by=by, at=now)
        payload = {"key": offering.key, "at": iso(now), "why": why, "by": by}
        self.flow.signal_entity(OFFERINGS, SHARED, "cool", payload)

    # --- waiting ----------------------------------------------------------------------------------------------

    def backoff(self, market: Market, ranked_at: datetime, waiting: bool = False) -> Steps:
        """Wait for the next round: the schedule's time, or sooner when a cool-down ends or, while a candidate waits
        for a better placement score (``waiting``), when the scores are renewed."""
        self.p.rounds += 1
        cooled = replace(market, cooled=cooled_until(self.memory))
        key, rounds = self.flow.key, self.p.rounds
        ends = round_ends(self.profile, cooled, self.flow.now, since=ranked_at, key=key, rounds=rounds, waiting=waiting)
        when = self.policy.backoff.next_round(self.flow.now, self.p.rounds, self.flow.key, self.started, ends)
        if when is None:
            return self.give_up()
        return (yield from self.wait(when, "waiting"))

    def sleep(self, when: datetime) -> Steps:
        yield from self.flow.sleep_until(min(when, self.deadline))

    def give_up(self) -> Conclusion:
        hours = self.policy.retry_deadline_hours
        tried = len(self.p.walk)
        return Conclusion(Outcome.GAVE_UP, Reason.DEADLINE, f"no replacement after {hours:g} h ({tried} creates)")

    # --- records ------------------------------------------------------------------------------------------------

    @property
    def recovery(self) -> str:
        return self.flow.key.split(":", 1)[0]  # the recovery's id: the replacement's name hashes it

    def target(self, attempt: Attempt) -> VmRef:
        name = replacement_name(self.member.name, self.recovery, attempt.number)
        return VmRef(self.vm.subscription, self.vm.resource_group, name)

    def tried(self, attempt: Attempt, outcome: Verdict | str, code: str, message: str) -> None:
        entry = {**attempt.to_dict(), "name": self.target(attempt).name, "result": str(outcome), "code": code}
        self.p.walk = [*self.p.walk, {**entry, "at": iso(self.flow.now)}][-MAX_WALK:]
        self.record("create", str(outcome), code, message)

    def publish_ranking(self, found: list[Candidate], ranked: list[Candidate], spot: bool) -> None:
        excluded = [c.explain() for c in found if c.excluded]
        choice = why_chosen(ranked[0], ranked, self.profile.strategy) if ranked else "no usable candidate"
        self.p.ranking = {
            "at": iso(self.flow.now),
            "priority": "Spot" if spot else "Regular",
            "strategy": self.profile.strategy,
            "ranked": [c.explain() for c in ranked[:MAX_LISTED]],
            "excluded": excluded[:MAX_LISTED],
            "choice": choice,
        }
        self.status("ranked")

    def describe_old(self) -> dict[str, Any]:
        m = self.member
        return {"id": m.vm_id, "size": m.size, "region": m.region, "zone": m.zone or None, "priority": m.priority}

    def describe_new(self, target: VmRef, facts: VmFacts, attempt: Attempt) -> dict[str, Any]:
        listed = (self.p.ranking or {}).get("ranked", [])
        key = attempt.offering
        price = next(
            (c["price"] for c in listed if Offering(c["size"], c["region"], c["zone"] or "").key == key.key), None
        )
        return {
            "id": target.id,
            "size": facts.size or attempt.offering.size,
            "region": facts.location or attempt.offering.region,
            "zone": facts.zone or None,
            "priority": "Spot" if attempt.spot else "Regular",
            "price": price if attempt.spot else None,
            "fallback": not attempt.spot,
        }

    def status(self, phase: str, **extra: Any) -> None:
        """What operators read while it runs: the phase, the current choice, and the top of the ranking (custom
        status is limited to 16 KB: the output holds up to MAX_LISTED of each)."""
        status = {"phase": phase, "attempt": self.p.attempt, "lastError": self.p.last_error, **extra}
        if self.p.ranking is not None:
            r = self.p.ranking
            status["ranking"] = {**r, "ranked": r["ranked"][:SHOWN], "excluded": r["excluded"][:SHOWN]}
        self.flow.context.set_custom_status(status)

    def output(self, conclusion: Conclusion) -> dict[str, Any]:
        extra = {"replacement": self.replacement, "ranking": self.p.ranking, "walk": self.p.walk}
        return self.output_of(conclusion, self.p.last_error, self.p.executions, **extra)
