"""The browser dashboard: prices with signals, volume heatmap, correlations, signals, aggregates.

- `reader.DashboardReader`: the only data access (the pipeline's DynamoDB tables, incremental);
- `market.Market`: one snapshot of what is shown;
- `stats`: numpy kernels (downsampling, common time grid, correlation, cluster order);
- `figures`: pure builders, `Market` + controls -> plotly figures and table rows;
- `app`: the Dash page and its callbacks; `serve()` runs it (`cryptosignals dashboard`).

Needs the `dashboard` extra (dash, plotly) and the `aws` one (boto3).
"""
