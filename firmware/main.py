# Runs at every start and every wake from deep sleep. Never replaced by an update: if
# the firmware cannot even be imported (a broken update), the files it replaced come
# back from prev/ and the board starts again with them (update.py explains the trial).
try:
    import app
except Exception as error:  # noqa: BLE001 - any failure to import is a broken firmware
    print("kawamori: firmware does not start:", error)
    import machine
    import os

    try:
        for name in os.listdir("/prev"):
            try:
                os.remove("/" + name)
            except OSError:
                pass
            os.rename("/prev/" + name, "/" + name)
    except OSError:  # nothing to restore
        pass
    machine.deepsleep(60000)  # then start again (from prev/, or try again after a minute)
app.main()
