"""The return to Spot: a Regular fallback (a VM respot created at Regular priority when no Spot VM could be had) is
replaced by a Spot VM once a Spot candidate has ranked well enough for long enough. The Spot VM is created and
warmed up first; only then is the fallback deleted, so the fleet never has fewer members than before the swap.
Started by the ``returns`` timer (orchestrator.app.returns) as ``respot-return-<vm hash>``: one swap per member in
flight. It reuses the redeploy's machinery (orchestrator.workflows.redeploy): ranking, the create with its guard
read, the operation watch, the warm-up, the shared cool-downs. Event sequence of a return::

    recovery_policy, fleet_profile          the operator's policy and the fallback's profile, from settings
    call_entity offerings.get, gather_market
    -> rank the Spot candidates: the best with a placement score of at least revert.min_placement is good
    timer (at most LOOK), gather_market ... -> good at every look for revert.after_minutes
    create_return -> accepted               guard reads (this Spot VM's name is free, the fallback is respot's,
                                            the fleet has at most desired members), then PUT
    timer, check_operation -> done; read_vm -> running; timer healthy_seconds; read_vm -> still running
    signal_entity offerings.held, member.remember
    delete_fallback -> accepted             guard reads (the Spot VM runs and names the fallback it replaces; the
                                            fleet keeps desired members and its keep_regular floor without it)
    signal_entity roster.forget             respot deletes it itself: the sweep must not miss it
    timer, check_operation -> done
    -> output: returned / returned_to_spot, old (Regular) -> new (Spot), the ranking

No good candidate: ``kept / no_good_candidate`` at once (the next tick looks again). The Spot VM evicted or failed
while warming up: it is deleted, its offering cools down, nothing Regular is touched: ``kept / lost_in_warm_up``. A
create that fails: ``kept / create_failed``. The fleet would fall below ``desired`` without the fallback: the
delete is asked again for a while, then ``kept / fallback_kept`` (the Spot VM stays a member). The timer starts no
new return for a fallback before ``revert.dwell_minutes`` after such an end (orchestrator.domain.revert).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.fleet import Profile
from orchestrator.domain.models import InvalidInput, Outcome, Reason, Step, StepResult, VmRef, iso, parse_iso
from orchestrator.domain.placement import Candidate
from orchestrator.domain.policy import TASKS_PER_EXECUTION, Policy
from orchestrator.domain.revert import good_candidate, swap_at, worth_moving
from orchestrator.domain.schedule import SHORT
from orchestrator.domain.template import Member
from orchestrator.workflows import names
from orchestrator.workflows.flow import Context, EntityIds, Flow, Steps
from orchestrator.workflows.lro import watch
from orchestrator.workflows.redeploy import Attempt, Progress, Redeploy, Start, begin
from orchestrator.workflows.strategy import Conclusion

LOOK = timedelta(minutes=5)  # how often a good candidate is looked at again while it must keep ranking well
LOOK_TASKS = 8  # durable tasks one look may take (paced market read, cool-downs, placement, timer)
KEEP_ASKING = timedelta(minutes=15)  # how long a delete refused for the desired count is asked again ...
ASK_EVERY = timedelta(minutes=1)  # ... and how often (another member's recovery may be creating meanwhile)


@dataclass
class ReturnProgress(Progress):
    good_since: str | None = None  # the first look at which a good candidate ranked (reset by a look without one)


def return_to_spot(context: Context, entity_id: EntityIds) -> Steps:
    start = yield from begin(context, entity_id, _progress)
    if not isinstance(start, Start):
        return start
    run = Return(start.flow, start.vm, start.member, start.profile, start.policy, start.progress)
    conclusion = yield from run.swap_when_good()
    if conclusion is None:
        return run.carry_on()
    return run.output(conclusion)


def _progress(data: dict[str, Any], now: datetime) -> ReturnProgress:
    """A first execution's, or what the last one handed on (its start and goodSince, its story)."""
    if data.get("progress") is None:
        return ReturnProgress(started_at=iso(now), since=iso(now))
    progress = ReturnProgress.from_dict(data["progress"])
    if not isinstance(progress, ReturnProgress):
        raise InvalidInput("progress: not a return's")
    if progress.good_since is not None:
        parse_iso(progress.good_since, "progress.good_since")
    return progress


class Return(Redeploy):
    LOW_WAITS = False  # ``min_placement`` is the return's own gate on the score: every candidate is ranked
    CREATE = names.CREATE_RETURN

    def __init__(
        self, flow: Flow, vm: VmRef, member: Member, profile: Profile, policy: Policy, progress: ReturnProgress
    ) -> None:
        super().__init__(flow, vm, member, profile, policy, progress)
        self.r = progress
        self.warm_up_lost = False

    @property
    def recovery(self) -> str:
        """The instance id and its start: each return's Spot VM names are its own (a return after a lost one
        never meets the VM that one is still deleting)."""
        started = parse_iso(self.r.started_at, "started_at")
        return f"{self.flow.key}-{started:%Y%m%d%H%M%S}"

    def swap_when_good(self) -> Steps:
        if not self.profile.revert.enabled:
            detail = f"fleet {self.profile.name} has revert.enabled false: its fallbacks stay Regular"
            return Conclusion(Outcome.IGNORED, Reason.OUT_OF_SCOPE, detail)
        while self.flow.now < self.deadline:
            if self.flow.tasks + LOOK_TASKS > TASKS_PER_EXECUTION:
                return None  # a long after_minutes: continue as new before a look would pass the budget
            market = yield from self.market()
            if isinstance(market, Conclusion):
                return market
            if market is None:
                continue  # ARM trouble, waited out: look again
            walk, found = yield from self.ranked(market, spot=True)
            self.publish_ranking(found, walk.ranked, True)
            good, why = self.choose(walk.ranked, found, stale=market.placement_stale)
            if good is None:
                return self.not_good(walk.ranked, why, stale=market.placement_stale)
            self.r.good_since = self.r.good_since or iso(self.flow.now)
            due = swap_at(parse_iso(self.r.good_since, "good_since"), self.profile.revert)
            if self.flow.now >= due:
                return (yield from self.swap(good))
            yield from self.wait(min(due, self.flow.now + LOOK), "waiting")
        return self.give_up()

    @property
    def moving(self) -> bool:
        """A Spot member on a worse offering (revert.better_by), not a Regular fallback."""
        return self.member.priority.lower() == "spot"

    def choose(self, ranked: list[Candidate], found: list[Candidate], *, stale: bool) -> tuple[Candidate | None, str]:
        revert = self.profile.revert
        if self.moving:
            return worth_moving(ranked, found, self.member.offering, revert, stale=stale)
        good = good_candidate(ranked, revert, stale=stale)
        return good, "no good candidate" if good is None else ""

    def not_good(self, ranked: list[Candidate], why: str, *, stale: bool) -> Conclusion:
        floor = self.profile.revert.min_placement
        if why != "no good candidate":
            return Conclusion(Outcome.KEPT, Reason.NOT_WORSE, why)
        if stale:
            detail = "placement scores are stale: no swap on old news"
        elif ranked:
            best = ranked[0]
            detail = f"best Spot candidate {best.offering.key} has placement {best.placement_score}, below {floor}"
        else:
            detail = "no usable Spot candidate"
        if self.r.good_since is not None:
            detail += f" (good since {self.r.good_since}, not for revert.after_minutes)"
        return Conclusion(Outcome.KEPT, Reason.NO_GOOD_CANDIDATE, detail)

    def swap(self, good: Candidate) -> Steps:
        self.p.attempt += 1
        attempt = Attempt(self.p.attempt, good.offering, spot=True)
        outcome = yield from self.attempt(attempt)
        if isinstance(outcome, Conclusion) and outcome.outcome == Outcome.RECOVERED:
            return (yield from self.retire(attempt))
        if isinstance(outcome, Conclusion):
            return outcome
        last = self.p.walk[-1] if self.p.walk else {}
        reason = Reason.LOST_IN_WARM_UP if self.warm_up_lost else Reason.CREATE_FAILED
        detail = (
            f"{self.target(attempt).name} on {good.offering.key}: {last.get('code') or outcome}; {self.vm.name} stays"
        )
        return Conclusion(Outcome.KEPT, reason, detail)

    def created(self, result: StepResult, attempt: Attempt) -> Steps:
        if result.step == Step.SKIPPED and result.reason == "not_a_fallback":
            detail = f"{self.vm.name} is gone or no longer respot's fallback: nothing to return"
            return Conclusion(Outcome.STOPPED, Reason.DELETED_MEANWHILE, detail)
        return (yield from super().created(result, attempt))

    def lost_in_warm_up(self, attempt: Attempt, facts: Any) -> Steps:
        self.warm_up_lost = True
        return (yield from super().lost_in_warm_up(attempt, facts))

    def retire(self, attempt: Attempt) -> Steps:
        """Delete the fallback now that its Spot replacement holds (the activity checks it again). The roster is told
        when the delete is accepted (a sweep during it must not miss the VM), and told again if the VM stays."""
        conclusion = yield from self.delete_fallback(attempt)
        if conclusion.outcome != Outcome.RETURNED:
            self.unforget(self.vm)  # a no-op on the roster unless the delete was accepted (and marked) meanwhile
        return conclusion

    def delete_fallback(self, attempt: Attempt) -> Steps:
        spot, asking_until = self.target(attempt), self.flow.now + KEEP_ASKING
        payload = {"vm": self.vm.to_dict(), "spot": spot.to_dict()}
        old = f"{self.vm.name} (Spot on {self.member.offering.key})" if self.moving else f"{self.vm.name} (Regular)"
        story, last = f"{old} -> {spot.name} (Spot) on {attempt.offering.key}", ""
        while self.flow.now < asking_until:
            self.status("retiring", name=self.vm.name)
            result = yield from self.flow.ask(
                names.DELETE_FALLBACK,
                payload,
                self.story,
                deadline=asking_until,
                budget=2 * TASKS_PER_EXECUTION,
                action="delete",
            )
            if result.step in (Step.ACCEPTED, Step.DONE):
                self.forget(self.vm)
            if result.step == Step.ACCEPTED and result.operation is not None:
                result = yield from watch(self.flow, result.operation, self.story, budget=None)
            if result.step == Step.DONE:
                self.record("delete", "done", result.reason or "", f"the fallback {self.vm.name} is deleted")
                return Conclusion(Outcome.RETURNED, Reason.MOVED if self.moving else Reason.RETURNED, story)
            if result.step == Step.SKIPPED and result.reason in ("regular_floor", "spot_not_running"):
                return (yield from self.undo(attempt, result))
            if result.step == Step.OUT_OF_SCOPE or result.reason == "not_a_fallback":
                why = f"{story}: {self.vm.name} is no longer a fallback respot may delete ({result.reason}); both stay"
                return Conclusion(Outcome.KEPT, Reason.FALLBACK_KEPT, why)
            last = result.reason or result.step.value
            self.record("delete", result.step.value, last, "the fallback delete is asked again")
            pause = ASK_EVERY if result.reason == "below_desired" else timedelta(seconds=SHORT)
            yield from self.sleep(self.flow.now + pause)
        detail = f"{story}: the fallback was not deleted in {KEEP_ASKING} (last: {last}); both stay"
        return Conclusion(Outcome.KEPT, Reason.FALLBACK_KEPT, detail)

    def undo(self, attempt: Attempt, result: StepResult) -> Steps:
        """The fallback must stay (keep_regular) or the Spot VM no longer runs: the Spot VM goes."""
        yield from self.discard(attempt)
        self.replacement = None
        detail = f"{self.vm.name} kept ({result.reason}); {self.target(attempt).name} deleted"
        reason = Reason.LOST_IN_WARM_UP if result.reason == "spot_not_running" else Reason.FALLBACK_KEPT
        return Conclusion(Outcome.KEPT, reason, detail)

    def output(self, conclusion: Conclusion) -> dict[str, Any]:
        out = super().output(conclusion)
        out["goodSince"] = self.r.good_since
        return out
