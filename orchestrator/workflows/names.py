"""Every durable function name, in one place: blueprints register them, workflows call them."""

RECOVER_VM = "recover_vm"
GET_VM_FACTS = "get_vm_facts"
START_VM = "start_vm"
SET_MAX_PRICE = "set_max_price"
LAST_USER_ACTION = "last_user_action"
