"""The development toolkit: everything that runs this project's code off AWS, in one place.

Tests (tests/conftest.py, tests/support.py, tests/integration_moto), benchmarks (bench/) and
the local stack (infra/local) all build their world from these modules, so that what they
set up cannot drift apart:

- ``infra.devkit.environment``: ``isolate()``, an environment that can never reach a real
  account (fake credentials, one region, no profile, config file or endpoint of the shell);
  ``use_layer()``, the import path Lambda gives the code; ``host_functions()``, both and
  the functions' variables, for handlers called in process; ``REGION``, ``ACCOUNT_ID``.
- ``infra.devkit.context``: ``LambdaContext``, the runtime's context object.
- ``infra.devkit.moto``: ``TABLES`` and ``table_variables()``; ``create_tables()`` and
  ``bootstrap_keys()``, both from template.yaml, and ``build()`` (the two together);
  ``mocked()``, all that in process (``mock_aws``); ``MotoServer``, moto over HTTP with
  DynamoDB's per-request atomicity (``serialised_dynamodb()``).
- ``infra.devkit.wire``: ``on_exchange()``, the seam in front of each request the
  functions' AWS clients send (count, fail, replay); ``count_requests()``.
- ``infra.devkit.local_stack``: ``LocalStackProcess``, ``python -m infra.local`` started
  on a free port and stopped again; ``free_port()``; ``read_env_file()``.
- ``infra.template`` (not here, but what all of the above read): template.yaml as data.

Each module imports only what it needs: the local stack's worker processes import
``infra.devkit.context`` without loading boto3 or moto.
"""
