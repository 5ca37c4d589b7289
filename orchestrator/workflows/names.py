"""Every durable function and event name, in one place: blueprints register them, workflows call them."""

RECOVER_VM = "recover_vm"  # one eviction: identity, signals joining, classify, then a strategy
OBSERVE_VM = "observe_vm"  # a look at the VM (facts, user action, eviction record), ARM trouble waited out
RESTART_VM = "restart_vm"  # strategy: start the deallocated VM again until capacity returns
RESTORE_CAPACITY = "restore_capacity"  # strategy: raise a Delete-policy scale set's capacity back, once per wave
SWEEP_RECORD = "sweep_record"  # one reconciliation sweep's findings and actions, as its output (app/sweep.py)
REDEPLOY_VM = "redeploy_vm"  # strategy: create a replacement of a deleted fleet member on the best candidate
RETURN_TO_SPOT = "return_to_spot"  # a Regular fallback replaced by Spot: create and warm up, then delete the fallback

RECOVERY_POLICY = "recovery_policy"
READ_VM = "read_vm"
TRY_START = "try_start"
CHECK_OPERATION = "check_operation"
RAISE_MAX_PRICE = "raise_max_price"
USER_ACTION = "user_action"
EVICTION_RECORD = "eviction_record"
FLEET_PROFILE = "fleet_profile"
GATHER_MARKET = "gather_market"
CREATE_VM = "create_vm"
DELETE_VM = "delete_vm"
READ_SCALE_SET = "read_scale_set"
SET_CAPACITY = "set_capacity"
CREATE_RETURN = "create_return"
DELETE_FALLBACK = "delete_fallback"

OFFERINGS_ENTITY = "offerings"  # cool-downs shared by every recovery (orchestrator.domain.memory)
MEMBER_ENTITY = "member"  # what respot knew of a fleet member, by VM hash
ROSTER_ENTITY = "roster"  # the fleet members of a subscription at the last sweep
SCALESET_ENTITY = "scaleset"  # a scale set's capacity as the sweep saw it, and its eviction wave

SIGNAL_EVENT = "signal"  # a signal joining a running recovery (raised by /api/alerts)

# Named strategies, by the decision that calls for them.
STRATEGIES = {"restart": RESTART_VM, "redeploy": REDEPLOY_VM, "capacity": RESTORE_CAPACITY}
