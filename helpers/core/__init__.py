"""What every stage stands on: safe files (atomic writes, checksums), the shared training pieces,
provenance (machine info, model cards, one staged publish), learning-rate schedules and typed errors.

Nothing here imports another stage of the package.
"""
