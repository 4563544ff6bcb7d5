"""The promotion wing: a digest a stage deployed walks to the next stage once it is verified (a bake with no failure
alert, no rollback, alarms OK) and, where the stage asks, approved. It deploys through the deploy queue, so the
deployer's ledger and claims decide what runs."""
