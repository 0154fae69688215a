# Runs at every start and every wake from deep sleep.
import app

app.main()
