"""The benchmark app: one orchestration of five chained activities."""

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def five(context: df.DurableOrchestrationContext):
    total = 0
    for i in range(5):
        total += yield context.call_activity("add", i)
    return total


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    for i in range(context.get_input()):
        yield context.call_activity("add", i)
    return "done"


@app.activity_trigger(input_name="n")
def add(n: int) -> int:
    return n + 1
