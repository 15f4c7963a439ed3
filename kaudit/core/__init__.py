"""What every stage shares: the data model, errors, atomic writes, text
sanitising and the JSON text writer. Nothing here imports another stage."""
