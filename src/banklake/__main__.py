from banklake.cli import app

app()
