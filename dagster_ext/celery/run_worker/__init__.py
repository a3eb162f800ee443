"""The run worker's side: the executor, the step handler that publishes each step and watches its
claim, and the rules for re-dispatching a step whose worker or message was lost."""
