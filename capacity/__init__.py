"""What the service costs and where it breaks, from 10 thousand to 10 million monthly active
users: prices (``prices``), a closed-form model (``model``, ``quotas``), a day's simulation
that checks it (``simulate``) and the plots of docs/capacity.md (``plots``). The measured
figures it prices come from the benchmarks: ``python -m bench.cost``."""
