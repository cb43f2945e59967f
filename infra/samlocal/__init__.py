"""`sam build` and `sam local` with no image registry: a Lambda-like image built here, the
x86_64 variant of the template, and every function invoked with its sample events against
the local stack (``python -m infra.samlocal``; ``make sam-local``)."""
