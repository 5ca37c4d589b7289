"""Where a replacement goes: candidates = sizes x regions x zones a fleet profile allows, filtered by hard limits,
then scored and ranked, every step explained. Pure and deterministic: the same market gives the same list.

Hard limits (a candidate failing one is listed with the reason, never ranked):
- the size exists in the region (resource SKUs), is not restricted there (or in that zone), can run as Spot;
- its vCPUs, memory, architecture and family meet the profile's constraints;
- quota headroom: the regional ``lowPriorityCores`` for Spot (Spot VMs draw on it alone), the family's cores and the
  regional ``cores`` for a Regular fallback (Karpenter's Azure provider found ~94% of failed creates were quota);
- the spot price is within the profile's cap;
- the offering is not cooling down (shared memory, orchestrator.domain.memory): a create there just failed for
  capacity, or a VM there was just evicted (the evicted VM's own offering included: the recovery cools it down when
  it starts, so a mass eviction does not pile back in, and it is a candidate again when the cool-down ends);
- for Spot, its fresh placement score is not Low (``LOW_EXCLUDED``): Azure's score is valid when it is asked, so a
  Low one predicts a create that fails (two writes, minutes lost) while the recovery could be waiting for the scores
  to be renewed (``Market.placement_until``), which is when its next round is due. A recovery with nothing but Low
  candidates still probes one, the best, an hour after its last create (``low_probe_due``, ``one_probe``). Stale or
  missing scores exclude nothing.

Cool-downs (``cool_until``): 10 minutes after a failed create or an eviction (one probe interval: capacity often
comes back within minutes), doubling with each failure in a row on that offering (10, 20, 40, then 60 minutes at
most, the longest cool-down respot ever used), so an offering in a long drought is asked less and less often. A
failure counts as "in a row" when it comes within ``COOL_REMEMBER`` (an hour) of the previous cool-down's end; a
replacement that holds there clears the record.

Scoring (``ranked``, the default): higher is better,
``2 x placement (High 3, Medium 2, Low 1, unknown or stale 1.5) - 1.5 x eviction rate (0-5 % 0 ... 20+ % 4, unknown 2)
- 0.5 x log2(price / cheapest price) - 1 x offerings of the same region cooling down (at most 2)``.
A likely, long-lived placement first. Price is the tie-breaker it should be: twice the cheapest costs half a point
(a quarter of a placement level), 50 times the cheapest under 3 points, so a dear size that is there beats a cheap
one that is not (cheapest-first is the named strategy that picks the most contended size, as peers' users
complain). The region term is respot's own, fresher evidence than an hourly placement score: zones and sizes of a
region often fail together, so each other offering of the region that just failed or was evicted (cooling down now)
costs a point (half a placement level), at most two. Ties go to the cheaper, then the name; under ``ranked`` the
candidates within ``SPREAD_BAND`` (a quarter point: a price 19 % above) of the best are ordered per member (a digest of its name and the
offering), so members evicted together spread over equally good offerings. Strategies: ``ranked``,
``cheapest_first``, ``same_region_first`` (the evicted VM's region first, ranked within).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from orchestrator.domain.fleet import Profile
from orchestrator.domain.schedule import unit

PLACEMENT_POINTS = {"high": 3.0, "medium": 2.0, "low": 1.0}
UNKNOWN_PLACEMENT = 1.5
EVICTION_POINTS = {"0-5": 0.0, "5-10": 1.0, "10-15": 2.0, "15-20": 3.0, "20+": 4.0}
UNKNOWN_EVICTION = 2.0
PRICE_WEIGHT = 0.5  # points per doubling of the price over the cheapest candidate's
SPREAD_BAND = 0.25  # this close to the best is equally good (a price 19 % above): members spread over them
GOOD_BAND = 1.0  # this close to the best is good: a wave's replacements are shared among them, weighted by score
REGION_COOLING_POINTS, REGION_COOLING_MAX = 1.0, 2  # per other offering of the region cooling down, at most 2 counted
COOL_DOWN = {"capacity": timedelta(minutes=10), "evicted": timedelta(minutes=10), "price": timedelta(minutes=30)}
COOL_GROWTH = 2.0  # each failure in a row on an offering doubles its cool-down ...
COOL_MAX = timedelta(hours=1)  # ... up to this
COOL_REMEMBER = timedelta(hours=1)  # a failure this soon after the previous cool-down ended is one more in a row
LOW_EXCLUDED = "placement score Low: waiting for a better one"
PROBED = f"{LOW_EXCLUDED} (another Low one is probed)"
RENEWAL_SPREAD = timedelta(seconds=30)  # rounds waiting for renewed scores start within this after the renewal
LOW_PROBE_EVERY = timedelta(hours=1)  # with only Low scores, one create this often still probes (COOL_MAX)


@dataclass(frozen=True, order=True)
class Offering:
    size: str
    region: str
    zone: str = ""  # "" : the region's own pool (no zone)

    @property
    def key(self) -> str:
        return f"{self.size.lower()}/{self.region}/{self.zone or '-'}"

    @classmethod
    def from_key(cls, key: str) -> Offering:
        size, region, zone = key.split("/")
        return cls(size, region, "" if zone == "-" else zone)


@dataclass(frozen=True)
class Sku:
    """A size as the resource SKUs list gives it in one region."""

    name: str
    vcpus: int
    memory_gb: float
    family: str
    architecture: str = "x64"
    spot_capable: bool = True
    zones: tuple[str, ...] = ()
    restricted: bool = False  # not available to this subscription in the region
    restricted_zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scores:
    """Spot placement scores as the market adapter gives them: per offering key, whether they are the last ones kept
    after a refused call (``stale``), and in how many seconds they will be asked again (``renewed_in``; None when
    unknown). Seconds, not a time: the orchestration adds them to its own clock."""

    scores: dict[str, str]
    stale: bool = False
    renewed_in: float | None = None


@dataclass(frozen=True)
class Market:
    """What one decision knows, fetched by activities (recorded in the history, so ranking replays identically)."""

    skus: dict[tuple[str, str], Sku] = field(default_factory=dict)  # (region, size lower) -> sku
    spot_prices: dict[tuple[str, str], float] = field(default_factory=dict)  # (size lower, region) -> USD/h
    eviction_rates: dict[tuple[str, str], str] = field(default_factory=dict)  # (size lower, region) -> bucket
    placement: dict[str, str] = field(default_factory=dict)  # offering key -> High | Medium | Low | ...
    placement_stale: bool = False
    placement_renewed_in: float | None = None  # seconds from the reading until the adapter asks again ...
    placement_until: datetime | None = None  # ... as a time on the orchestration's clock (``renewal``): worth a look
    quota: dict[str, dict[str, int]] = field(default_factory=dict)  # region -> usage name -> free units
    cooled: dict[str, datetime] = field(default_factory=dict)  # offering key -> until
    members: dict[str, int] = field(default_factory=dict)  # the fleet's live members by priority (Spot, Regular)


@dataclass(frozen=True)
class Candidate:
    offering: Offering
    price: float | None = None
    eviction_rate: str | None = None
    placement_score: str | None = None
    score: float = 0.0
    excluded: str = ""  # why it cannot be used; "" when it can
    region_cooling: int = 0  # the profile's other offerings in this region cooling down now

    def explain(self) -> dict[str, object]:
        return {
            "size": self.offering.size,
            "region": self.offering.region,
            "zone": self.offering.zone or None,
            "price": self.price,
            "evictionRate": self.eviction_rate,
            "placementScore": self.placement_score,
            "score": round(self.score, 3),
            "excluded": self.excluded or None,
            "regionCooling": self.region_cooling,
        }


def offerings(profile: Profile, market: Market) -> list[Offering]:
    """Every size x region x zone the profile allows, in a stable order."""
    out = []
    for placement in profile.placements:
        for size in _sizes(profile, market, placement.region):
            sku = market.skus.get((placement.region, size.lower()))
            zones = placement.zones or ("",)
            if sku is not None and not sku.zones:
                zones = ("",)  # the size has no zones there: the regional pool
            out += [Offering(size, placement.region, z) for z in zones]
    return sorted(set(out))


def _sizes(profile: Profile, market: Market, region: str) -> list[str]:
    if profile.sizes:
        return list(profile.sizes)
    return sorted({sku.name for (r, _), sku in market.skus.items() if r == region})


def candidates(
    profile: Profile,
    market: Market,
    *,
    now: datetime,
    spot: bool = True,
    cap: float | Literal["profile"] | None = "profile",
    probe_low: bool = False,
) -> list[Candidate]:
    """Each allowed offering with its factors, and the hard limit it fails, if any. ``cap``: the spot price cap
    (the profile's by default; after a price eviction under ``price_policy: raise``, its ceiling). ``probe_low``:
    offerings whose fresh placement score is Low are candidates too (``low_probe_due``), else they wait."""
    limit = price_cap(profile) if cap == "profile" else cap
    allowed = offerings(profile, market)
    cooling = [o for o in allowed if _cooling(market, o, now)]
    found = []
    for offering in allowed:
        lower = offering.size.lower()
        found.append(
            Candidate(
                offering,
                market.spot_prices.get((lower, offering.region)),
                market.eviction_rates.get((lower, offering.region)),
                _placement_score(market, offering),
                excluded=_excluded(profile, market, offering, now=now, spot=spot, cap=limit)
                or ("" if probe_low or not spot else _low(market, offering)),
                region_cooling=sum(o.region == offering.region and o != offering for o in cooling),
            )
        )
    return found


def _cooling(market: Market, offering: Offering, now: datetime) -> bool:
    until = market.cooled.get(offering.key)
    return until is not None and until > now


def cooling_ends(profile: Profile, market: Market, now: datetime, since: datetime | None = None) -> list[datetime]:
    """When each of the profile's offerings that was cooling down at ``since`` (the round's ranking; default now)
    comes back: the next round can be due then. An end between ``since`` and now is one the round's walk did not
    see (the offering came back while it tried the others): it is due at once."""
    seen_at = now if since is None else min(since, now)
    return sorted(market.cooled[o.key] for o in offerings(profile, market) if _cooling(market, o, seen_at))


def _low(market: Market, offering: Offering) -> str:
    """Why a Spot create waits for a better placement score: the fresh score is Low. Azure's score is valid at the
    time it is asked (learn.microsoft.com/azure/virtual-machine-scale-sets/spot-placement-score), so a Low one
    predicts a failed create (two writes and minutes lost); stale or missing scores exclude nothing."""
    if market.placement_stale or (_placement_score(market, offering) or "").lower() != "low":
        return ""
    renewed = f" (scores renewed at {market.placement_until:%H:%M})" if market.placement_until else ""
    return f"{LOW_EXCLUDED}{renewed}"


def low_probe_due(last_create: datetime, now: datetime) -> bool:
    """A recovery whose only candidates score Low still tries one every ``LOW_PROBE_EVERY`` (measured from its
    last create, or its start): a score is a forecast, and a drought must not mean never asking again. Rounds come
    up to ``RENEWAL_SPREAD`` after a renewal, so the hour is that much shorter: the probe is due at the renewal an
    hour on, not one renewal later."""
    return now >= last_create + LOW_PROBE_EVERY - RENEWAL_SPREAD


def one_probe(
    ordered: list[Candidate], found: list[Candidate], market: Market
) -> tuple[list[Candidate], list[Candidate]]:
    """A due probe's (walk, candidates): the ranked list keeps its best Low-scored candidate only (one create asks
    whether the forecast still holds); the other Low ones stay in the candidates, excluded as waiting for a better
    score (``PROBED``), so the ranking shows them and the next round is due when the scores are renewed."""
    if market.placement_stale:
        return ordered, found
    lows = [c.offering for c in ordered if (c.placement_score or "").lower() == "low"]
    waiting = set(lows[1:])  # the best one is the probe
    walk = [c for c in ordered if c.offering not in waiting]
    marked = [replace(c, excluded=PROBED) if c.offering in waiting and not c.excluded else c for c in found]
    return walk, marked


def after_renewal(market: Market, key: str, rounds: int) -> datetime | None:
    """When a round that waits for renewed scores is due: up to ``RENEWAL_SPREAD`` after the renewal, spread per
    recovery and round, so a wave's recoveries do not all rank again in the same second."""
    if market.placement_until is None:
        return None
    return market.placement_until + RENEWAL_SPREAD * (1 + unit(f"{key}/renewal/{rounds}")) / 2


def round_ends(
    profile: Profile, market: Market, now: datetime, *, since: datetime, key: str, rounds: int, waiting: bool
) -> list[datetime]:
    """What makes a waiting recovery's next round due before the schedule's time: the cool-downs seen at ``since``
    (``cooling_ends``) and, while a candidate waits for its placement score, the scores' renewal if still ahead."""
    ends = cooling_ends(profile, market, now, since=since)
    renewed = after_renewal(market, key, rounds) if waiting else None
    return sorted([*ends, renewed]) if renewed is not None and renewed > now else ends


def waiting_for_score(found: Iterable[Candidate]) -> bool:
    """Some candidate waits only for its placement score: the next round is due when the scores are renewed."""
    return any(c.excluded.startswith(LOW_EXCLUDED) for c in found)


def _placement_score(market: Market, offering: Offering) -> str | None:
    """The offering's spot placement score; a regional candidate (no zone) in a zonal region takes its best zone's
    (the API scores each zone when asked with availabilityZones; a regional VM may land in any of them)."""
    own = market.placement.get(offering.key)
    if own is not None or offering.zone:
        return own
    prefix = f"{offering.size.lower()}/{offering.region}/"
    zonal = [v for k, v in market.placement.items() if k.startswith(prefix)]
    return max(zonal, key=lambda v: PLACEMENT_POINTS.get(v.lower(), 0.0), default=None)


def _excluded(
    profile: Profile,
    market: Market,
    offering: Offering,
    *,
    now: datetime,
    spot: bool,
    cap: float | None,
) -> str:
    sku = market.skus.get((offering.region, offering.size.lower()))
    if sku is None:
        return "not offered in the region"
    for check in (_restriction, _fits, _quota):
        reason = check(profile, market, sku, offering, spot)
        if reason:
            return reason
    if spot:
        price = market.spot_prices.get((offering.size.lower(), offering.region))
        if cap is not None and price is not None and price > cap:
            return f"spot price {price:g} is above the cap {cap:g}"
        if _cooling(market, offering, now):
            return f"cooling down until {market.cooled[offering.key]:%H:%M}"
    return ""


def _restriction(profile: Profile, market: Market, sku: Sku, offering: Offering, spot: bool) -> str:
    if sku.restricted:
        return "restricted for this subscription in the region (SkuNotAvailable)"
    if offering.zone and offering.zone in sku.restricted_zones:
        return f"restricted in zone {offering.zone}"
    if offering.zone and sku.zones and offering.zone not in sku.zones:
        return f"not offered in zone {offering.zone}"
    if spot and not sku.spot_capable:
        return "cannot run as Spot"
    return ""


def _fits(profile: Profile, market: Market, sku: Sku, offering: Offering, spot: bool) -> str:
    c = profile.constraints
    if sku.vcpus < c.min_vcpus or sku.memory_gb < c.min_memory_gb:
        return f"{sku.vcpus} vCPUs / {sku.memory_gb:g} GiB is below the profile's minimum"
    if sku.architecture.lower() != c.architecture.lower():
        return f"architecture {sku.architecture}"
    if any(sku.family.lower() == f.lower() for f in c.avoid_families):
        return f"family {sku.family} is avoided"
    return ""


def _quota(profile: Profile, market: Market, sku: Sku, offering: Offering, spot: bool) -> str:
    free = market.quota.get(offering.region)
    if free is None:
        return ""  # unknown: the create will say, and the quota error skips the family there
    needs = ("lowPriorityCores",) if spot else (sku.family, "cores")
    short = [name for name in needs if free.get(name, sku.vcpus) < sku.vcpus]
    return f"no quota headroom: {', '.join(short)} ({sku.vcpus} vCPUs needed)" if short else ""


def price_cap(profile: Profile) -> float | None:
    caps = [
        c for c in (profile.max_price if profile.max_price != -1 else None, profile.constraints.max_spot_price) if c
    ]
    return min(caps) if caps else None


# --- scoring and strategies -------------------------------------------------------------------------------------


def score(candidate: Candidate, cheapest: float | None, stale: bool) -> float:
    placement = (
        UNKNOWN_PLACEMENT
        if stale
        else PLACEMENT_POINTS.get((candidate.placement_score or "").lower(), UNKNOWN_PLACEMENT)
    )
    eviction = EVICTION_POINTS.get(candidate.eviction_rate or "", UNKNOWN_EVICTION)
    ratio = candidate.price / cheapest if candidate.price and cheapest else 1.0
    region = REGION_COOLING_POINTS * min(REGION_COOLING_MAX, candidate.region_cooling)
    return 2.0 * placement - 1.5 * eviction - PRICE_WEIGHT * math.log2(max(ratio, 1.0)) - region


def _by_score(found: list[Candidate]) -> list[Candidate]:
    return sorted(found, key=lambda c: (-c.score, c.price if c.price is not None else float("inf"), c.offering))


def _by_price(found: list[Candidate]) -> list[Candidate]:
    return sorted(found, key=lambda c: (c.price if c.price is not None else float("inf"), c.offering))


Strategy = Callable[[list[Candidate], str | None], list[Candidate]]

STRATEGIES: dict[str, Strategy] = {
    "ranked": lambda found, home: _by_score(found),
    "cheapest_first": lambda found, home: _by_price(found),
    "same_region_first": lambda found, home: sorted(_by_score(found), key=lambda c: c.offering.region != home),
}


def rank(
    found: Iterable[Candidate],
    *,
    strategy: str,
    home_region: str | None,
    stale: bool = False,
    spread: str | None = None,
) -> list[Candidate]:
    """The usable candidates, scored and in the strategy's order (best first). With ``spread`` (the member's name),
    the ``ranked`` strategy orders the candidates within SPREAD_BAND of the best by a digest of name and offering:
    a wave of members evicted together spreads over equally good offerings instead of piling into one."""
    usable = [c for c in found if not c.excluded]
    prices = [c.price for c in usable if c.price is not None]
    cheapest = min(prices) if prices else None
    scored = [replace(c, score=score(c, cheapest, stale)) for c in usable]
    ordered = STRATEGIES[strategy](scored, home_region)
    if spread is None or strategy != "ranked" or not ordered:
        return ordered
    head = equally_good(ordered)
    head.sort(key=lambda c: hashlib.sha256(f"{spread}/{c.offering.key}".encode()).hexdigest())
    return head + ordered[len(head) :]


def equally_good(ordered: list[Candidate]) -> list[Candidate]:
    """The head of a ranked list: the candidates within SPREAD_BAND of the best."""
    best = max((c.score for c in ordered), default=0.0)
    return [c for c in ordered if c.score >= best - SPREAD_BAND]


def good_shares(ordered: list[Candidate]) -> list[tuple[Candidate, float]]:
    """The candidates within GOOD_BAND of the best, each with its share of a wave, in ranked order: 1 for the
    equally good (within SPREAD_BAND), else ``2 ** (score - best)`` (a point below the best takes half as many
    replacements). The ``placements`` entity deals a wave out in these proportions, so one offering never takes a
    whole region's recall (correlated re-eviction)."""
    best = max((c.score for c in ordered), default=0.0)
    return [
        (c, 1.0 if c.score >= best - SPREAD_BAND else round(2.0 ** (c.score - best), 4))
        for c in ordered
        if c.score >= best - GOOD_BAND
    ]


def why_chosen(choice: Candidate, ranked: list[Candidate], strategy: str) -> str:
    """One sentence an operator reads: why this candidate and not the next."""
    prices = [c.price for c in ranked if c.price is not None]
    cheapest = min(prices) if prices else None
    factors = [
        f"placement {choice.placement_score or 'unknown'}",
        f"eviction rate {choice.eviction_rate or 'unknown'}%",
        f"spot price {choice.price:g} USD/h" if choice.price is not None else "spot price unknown",
    ]
    if cheapest is not None and choice.price is not None and choice.price > cheapest:
        factors.append(f"{choice.price / cheapest - 1:.0%} above the cheapest {cheapest:g}")
    if choice.region_cooling:
        factors.append(f"{choice.region_cooling} other offering(s) of {choice.offering.region} cooling down")
    best = max((c.score for c in ranked), default=choice.score)
    tied = sum(1 for c in ranked if c.score >= best - SPREAD_BAND)
    ahead = f"first of {len(ranked)} by {strategy}" + (
        f" (one of {tied} within {SPREAD_BAND:g} of the best: spread by member)"
        if tied > 1 and strategy == "ranked"
        else ""
    )
    return f"{choice.offering.key}: {ahead}, score {choice.score:.2f} ({', '.join(factors)})"


def cool_until(now: datetime, why: str, strikes: int = 1) -> datetime:
    """How long an offering stays out of the running after it failed (``capacity``, ``price``) or ``evicted``, the
    ``strikes``-th time in a row (1: the first): the reason's cool-down, doubled per strike, at most ``COOL_MAX``."""
    first = COOL_DOWN.get(why, COOL_DOWN["capacity"])
    grown = first.total_seconds() * COOL_GROWTH ** min(max(0, strikes - 1), 16)
    return now + timedelta(seconds=min(max(first, COOL_MAX).total_seconds(), grown))


# --- across the durable boundary -----------------------------------------------------------------------------------


def market_to_dict(market: Market) -> dict[str, Any]:
    """JSON for an activity's result (pair keys become "a|b")."""
    return {
        "skus": [{"region": r, **asdict(sku)} for (r, _), sku in sorted(market.skus.items())],
        "spot_prices": {f"{s}|{r}": p for (s, r), p in sorted(market.spot_prices.items())},
        "eviction_rates": {f"{s}|{r}": b for (s, r), b in sorted(market.eviction_rates.items())},
        "placement": dict(sorted(market.placement.items())),
        "placement_stale": market.placement_stale,
        "placement_renewed_in": market.placement_renewed_in,
        "quota": market.quota,
        "cooled": {k: v.isoformat() for k, v in sorted(market.cooled.items())},
        "members": market.members,
    }


def renewal(market: Market, read_at: datetime) -> Market:
    """The market with ``placement_until`` on the reader's clock: read at ``read_at``, renewed that many seconds on."""
    if market.placement_renewed_in is None:
        return market
    return replace(market, placement_until=read_at + timedelta(seconds=market.placement_renewed_in))


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


def market_from_dict(data: Any) -> Market:
    """Raises KeyError, TypeError or ValueError for a document :func:`market_to_dict` did not write."""

    def pairs(name: str) -> dict[tuple[str, str], Any]:
        return {(k.split("|", 1)[0], k.split("|", 1)[1]): v for k, v in (data.get(name) or {}).items()}

    skus = {}
    for entry in data.get("skus") or []:
        fields = {k: v for k, v in entry.items() if k != "region"}
        fields["zones"], fields["restricted_zones"] = tuple(fields["zones"]), tuple(fields["restricted_zones"])
        skus[(str(entry["region"]), str(entry["name"]).lower())] = Sku(**fields)
    return Market(
        skus=skus,
        spot_prices={k: float(v) for k, v in pairs("spot_prices").items()},
        eviction_rates={k: str(v) for k, v in pairs("eviction_rates").items()},
        placement={str(k): str(v) for k, v in (data.get("placement") or {}).items()},
        placement_stale=bool(data.get("placement_stale")),
        placement_renewed_in=_seconds(data.get("placement_renewed_in")),
        quota={str(r): {str(n): int(f) for n, f in u.items()} for r, u in (data.get("quota") or {}).items()},
        cooled={str(k): datetime.fromisoformat(v) for k, v in (data.get("cooled") or {}).items()},
        members={str(k): int(v) for k, v in (data.get("members") or {}).items()},
    )
