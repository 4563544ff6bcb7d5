"""`make bench`: what users pay for Dockhand in time, calls and money, measured side by side in one run.

Figures: 1 cold start (coldstart), 2 warm cost per event, 3 fan-out and 4 crash storm (flows), 5 push to
UpdateService on the local runtime (local), 6 artifacts, 7 cost (costs). The ECS token buckets (buckets), the price
list and cost model (costs) and the table (report) are pure; world and worker run the real handlers.
"""
