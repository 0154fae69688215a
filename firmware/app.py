"""The gauge's cycle: measure, buffer on flash, and (when due) connect, take the
server's config and acknowledgement, send the status and the backlog, disconnect,
sleep. Everything it touches is passed in (board, clock, sensor, folder), so the
same code runs on a board, under CPython (tests, virtual gauges) and under the
MicroPython interpreter in the tests.

Any exception in a cycle is recorded (it goes out in the next status) and the
gauge sleeps and tries again: it never bricks. Only the first failed connection
is printed loudly; later outages are absorbed by the (jittered) backoff.

In the field: a battery below ``low_battery_mv`` keeps the radio off (it is what
browns a weak cell out) and one below ``empty_battery_mv`` does not even measure; a
start after a reset in the middle of an uplink (a brown-out looks like a power-on
reset on an ESP32) backs off instead of connecting at once, so a weak battery cannot
boot-loop; a dead sensor is given up after ``dead_after`` samples and reported at
once; without NTP the clock is set, before TLS, to the latest time the gauge can
prove (what it knew plus the device seconds since, never before ``not_before``),
and then from the server's time in a fresh acknowledgement.
"""

import hw
import measure
import mqtt
import policy
import settings
import store
import wire


class Gauge:
    def __init__(self, site: dict, board, clock, sensor, folder: str, root: str = "") -> None:
        """``folder`` holds the state and the buffer; ``root`` the firmware's own files
        (the board's root on a board), which updates replace."""
        self.site = site
        self.board = board
        self.clock = clock
        self.sensor = sensor
        self.folder = folder
        self.device = site["device"]
        try:
            import os

            os.mkdir(folder)
        except OSError:  # it exists
            pass
        self.states = store.State(folder + "/state.json")
        self.state = self.states.load()
        s = self.state
        for key, value in (("seq", 0), ("acked", -1), ("drop", 0), ("boot", 0), ("cfg_v", 0), ("serr", 0)):
            s.setdefault(key, value)
        s.setdefault("mode", policy.SLOW)
        self.cfg = dict(site)
        if s.get("cfg"):
            self.cfg.update(s["cfg"])
        self.buffer = store.Buffer(
            folder + "/" + site["buffer_dir"], site["buffer_max"], s["acked"], s["drop"]
        )
        s["seq"] = max(s["seq"], self.buffer.last_seq() + 1, s["acked"] + 1)
        self.cut_short = s.get("uplink_at") is not None
        if self.cut_short:  # reset during the last uplink: a brown-out, not a person
            s["brown"] = s.get("brown", 0) + 1
            s["uplink_at"] = None
        elif board.reset_cause() != "deepsleep":  # started by hand or by a reset: connect now
            s["net_next"] = 0
        if s.get("cred"):  # credentials rotated in the field replace config.py's (and the board's)
            site.update({key: value for key, value in s["cred"].items() if key != "n"})
        self.password = site["password"]
        self.promoted = False
        self.updater = None  # updates (update.py, ecdsa.py) loaded only where they can happen: RAM
        if site["update_key"] or s.get("trial") or s.get("upd"):
            import update

            self.updater = update.Updater(root, s, site["update_key"], settings.FIRMWARE)
        self.restart = self.updater is not None and self.updater.boot() == "rollback"  # load the old files
        self.pending_cfg: bytes | None = None
        self.rssi: int | None = None
        self.reset: str | None = None
        self.dt = 0
        self.random = hw.random_permille

    # -- time ---------------------------------------------------------------------------
    def clock_set(self) -> bool:
        """Whether readings may carry the clock's time (set by NTP or the server, not
        the lower bound set for TLS)."""
        return self.clock.time() >= hw.CLOCK_SET_AFTER and not self.state.get("guess")

    def _tick(self) -> int:
        """Device seconds: monotonic across deep sleep and (as a lower bound) power
        loss; the RTC's jumps when NTP sets it are taken out."""
        s = self.state
        mono = self.clock.time() - s.get("adj", 0)
        if "mono_last" not in s or mono < s["mono_last"]:  # first start or power loss
            s["boot"] += 1
            s["dt_base"] = s.get("dt_last", 0)
            s["mono0"] = mono
            s["boot_dt"] = s["dt_base"]
            s["last_status"] = None
            self.reset = self.board.reset_cause()
        s["mono_last"] = mono
        self.dt = s["dt_base"] + mono - s["mono0"]
        s["dt_last"] = self.dt
        return self.dt

    def _set_clock(self, unix: int, known: bool) -> None:
        s = self.state
        before = self.clock.time()
        self.clock.set_time(unix)
        s["adj"] = s.get("adj", 0) + self.clock.time() - before
        s["guess"] = not known
        if known:
            s["last_ntp"] = self.dt
            s["t_ref"] = unix
            s["dt_ref"] = self.dt

    def _sync_time(self) -> None:
        unix = self.board.ntp()
        if unix is not None:
            self._set_clock(unix, True)

    def _time_for_tls(self) -> None:
        """Without a set clock every certificate looks not yet valid: set it to the
        latest time this gauge can prove (a lower bound), readings still carry ages."""
        if self.clock.time() >= hw.CLOCK_SET_AFTER:
            return
        s = self.state
        guess = self.site["not_before"]
        if "t_ref" in s:
            guess = max(guess, s["t_ref"] + self.dt - s["dt_ref"])
        if guess >= hw.CLOCK_SET_AFTER:
            self._set_clock(guess, False)

    def _server_time(self, payload: bytes) -> None:
        """A fresh acknowledgement carries the server's clock: taken while the gauge's
        own is unset or only a lower bound (no NTP since a power cut)."""
        if self.clock_set():
            return
        unix = wire.ack_time(payload)
        if unix is not None and unix >= hw.CLOCK_SET_AFTER:
            self._set_clock(unix, True)

    # -- one cycle ----------------------------------------------------------------------
    def save(self) -> None:
        self.state["acked"] = self.buffer.acked
        self.state["drop"] = self.buffer.dropped
        self.states.save(self.state)

    def measure(self) -> None:
        s, cfg = self.state, self.cfg
        result = measure.burst(
            self.sensor,
            self.clock,
            cfg["samples"],
            cfg["burst_s"] * 1000,
            int(cfg["mount_m"] * 1000 + 0.5),
            (cfg["samples"] + 1) // 2,
            self.site["dead_after"],
        )
        self.board.feed()
        dt = self._tick()
        if (result is None) != bool(s.get("fault")):  # the sensor died or came back: say so now
            s["fault"] = "sensor" if result is None else None
            s["report"] = True
        if result is None:
            s["serr"] += 1
            s["err"] = "sensor: no valid sample"
            return
        t = self.clock.time() if self.clock_set() else 0
        record = (
            s["seq"],
            t,
            dt,
            result.level_mm,
            result.dist_mm,
            self.board.battery_mv(),
            result.q,
            result.spread_mm,
            result.valid,
        )
        self.buffer.append(record)
        s["seq"] += 1
        rise = policy.rise_mm_h(s.get("prev_level"), s.get("prev_dt"), result.level_mm, dt, 3 * cfg["slow_s"])
        s["mode"] = policy.next_mode(s["mode"], result.level_mm, rise, cfg)
        s["prev_level"] = result.level_mm
        s["prev_dt"] = dt

    def cycle(self) -> int:
        """One wake-up; returns the seconds to sleep."""
        start = self.clock.ticks_ms()
        s, site = self.state, self.site
        self.board.feed()
        if self.restart:
            self.save()
            self.board.reset()
        self._tick()
        if self.cut_short:
            self.cut_short = False
            s["net_next"] = self.dt + policy.backoff_s(s["brown"], self.cfg, self.random())
            s["err"] = "reset during uplink (brown-out?): %d" % s["brown"]
        battery = self.board.battery_mv()
        if battery is not None and battery < site["empty_battery_mv"]:
            s["lowbat"] = s.get("lowbat", 0) + 1
            self.save()
            return max(site["low_battery_sleep_s"], policy.interval_s(s["mode"], self.cfg))
        self.measure()
        self.save()
        if battery is not None and battery < site["low_battery_mv"]:
            s["lowbat"] = s.get("lowbat", 0) + 1
            s["err"] = "battery %s V: radio off" % wire.fixed(battery // 10, 2)
        elif policy.connect_due(s["mode"], self.dt, s, self.cfg, self.buffer.depth()):
            self.uplink()
            if self.updater is not None and self.updater.ready():  # verified and staged: install, start on trial
                self.updater.install(s["seq"])
                self.save()
                self.board.reset()
        return self.sleep_s(start)

    def sleep_s(self, start: int) -> int:
        awake = hw.ticks_diff(self.clock.ticks_ms(), start) // 1000
        return max(1, policy.interval_s(self.state["mode"], self.cfg) - awake)

    def run_cycle(self) -> int:
        """A cycle that never raises: failures are recorded and retried later."""
        start = self.clock.ticks_ms()
        try:
            return self.cycle()
        except hw.NetError as error:
            s = self.state
            s["net_fails"] = s.get("net_fails", 0) + 1
            s["net_next"] = self.dt + policy.backoff_s(s["net_fails"], self.cfg, self.random())
            s["err"] = str(error)[:120]
            if s["net_fails"] == 1:
                print("kawamori: connection failed:", error)
        except Exception as error:  # noqa: BLE001 - a cycle must never brick the gauge
            self.state["err"] = ("%s: %s" % (type(error).__name__, error))[:120]
            print("kawamori: cycle failed:", self.state["err"])
        try:
            self.save()
        except Exception as error:  # noqa: BLE001 - flash full or broken: keep measuring
            print("kawamori: state not saved:", error)
        return self.sleep_s(start)

    # -- the uplink ----------------------------------------------------------------------
    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic.endswith("/ack"):
            if not retained:
                self._server_time(payload)
            seq = wire.ack(payload)
            if seq is None:
                return
            if seq < self.state["seq"]:
                self.buffer.ack(seq)
                if self.updater is not None:
                    self.updater.acked(seq)
                return
            # The server has stored numbers this gauge never gave (its flash was wiped
            # and the device id reused): renumber what waits here above the watermark,
            # or the server would take it for duplicates.
            waiting = self.buffer.pending(500)
            self.buffer.ack(seq)
            self.state["seq"] = seq + 1
            for record in waiting:
                self.buffer.append((self.state["seq"],) + tuple(record[1:]))
                self.state["seq"] += 1
        elif topic.endswith("/config"):
            self.pending_cfg = payload
        elif topic.endswith("/secret"):
            self._secret(payload)
        elif self.updater is None:
            return
        elif topic.endswith("/update"):
            self._update_error(self.updater.offer(payload))
        elif "/update/" in topic:
            self._update_error(self.updater.file(topic.rsplit("/", 1)[1], payload))

    def _secret(self, payload: bytes) -> None:
        import secret

        s = self.state
        applied = max(s.get("rot_ok") or 0, (s.get("rotate") or {}).get("n", 0))
        offered = secret.offered(self.password, payload, applied)
        if isinstance(offered, dict):
            s["rotate"] = offered  # announced in this session's status; tried from the next
        elif offered is not None and not s.get("rot_ok"):  # (after a rotation: the stale one)
            s["err"] = offered

    def _update_error(self, error) -> None:
        if error is not None:
            self.state["err"] = error[:120]

    def _apply_config(self) -> None:
        payload, self.pending_cfg = self.pending_cfg, None
        if payload is None:
            return
        s = self.state
        decision = settings.remote(self.site, payload, s["cfg_v"])
        if decision is None:
            return
        version, values, error = decision
        if error is not None:
            s["cfg_error"] = ("cfg %d rejected: %s" % (version, error))[:120]
            return
        s["cfg_v"] = version
        s["cfg"] = {key: values[key] for key in settings.REMOTE}
        s["cfg_error"] = None
        self.cfg = values

    def status(self) -> bytes:
        s = self.state
        return wire.status(
            True,
            {
                "fw": settings.FIRMWARE,
                "bat": self.board.battery_mv(),
                "rssi": self.rssi,
                "up": self.dt - s.get("boot_dt", 0),
                "buf": self.buffer.depth(),
                "drop": self.buffer.dropped,
                "cfg": s["cfg_v"],
                "reset": self.reset,
                "boot": s["boot"],
                "mem": hw.mem_free(),
                "serr": s["serr"],
                "err": s.get("err"),
                "cfg_error": s.get("cfg_error"),
                "fault": s.get("fault"),
                "brown": s.get("brown"),
                "lowbat": s.get("lowbat"),
                "rot": (s.get("rotate") or {}).get("n"),
                "rot_ok": s.get("rot_ok"),
            },
        )

    def uplink(self) -> None:
        """Connect and send; with new credentials pending (secret.py) those first, then
        at once the old ones: a rotation never locks the gauge out."""
        s = self.state
        if self.site["uplink"] == "lorawan":
            self._lorawan()
            return
        pending = s.get("rotate")
        if pending:
            self.promoted = False
            try:
                self._session(pending)
                return
            except hw.NetError:
                if self.promoted:  # the new ones work; what failed was later
                    raise
                import secret

                pending["tries"] = pending.get("tries", 0) + 1
                if pending["tries"] >= secret.MAX_TRIES:
                    s["rotate"] = None
                    s["err"] = "credentials %d never worked: dropped" % pending["n"]
        self._session(None)

    def _lorawan(self) -> None:
        """Pending readings, oldest first, as confirmed uplinks through the board's modem
        (lora.py); a configuration downlink changes only the settings it names."""
        import lora

        s, modem = self.state, self.board.lora
        if not modem.joined:
            modem.join(self.site["lora_join_s"])
        for record in self.buffer.pending(self.site["lora_per_wake"]):
            acked, downlink, port = modem.send(lora.payload(record, self.dt))
            if not acked:
                raise hw.NetError("LoRaWAN: seq %d not acknowledged" % record[0])
            self.buffer.ack(record[0])
            if downlink is not None and port == lora.FPORT_CONFIG:
                offered = lora.config(downlink, s["cfg_v"])
                if offered is None:
                    s["cfg_error"] = "LoRaWAN downlink is not a configuration"
                else:
                    values = dict(s.get("cfg") or {})
                    values.update(offered[1])
                    values.update({"v": 1, "cfg": offered[0]})
                    self.pending_cfg = hw.dumps(values).encode()
                    self._apply_config()
        s["net_fails"] = 0
        s["net_next"] = 0
        s["last_send"] = s["last_status"] = self.dt
        s["report"] = False
        s["err"] = None
        self.save()

    def _promote(self, creds: dict) -> None:
        s = self.state
        s["cred"] = {key: creds[key] for key in ("n", "password", "wifi_ssid", "wifi_key") if key in creds}
        self.site.update({key: value for key, value in s["cred"].items() if key != "n"})  # the board's too
        s["rot_ok"] = creds["n"]
        s["rotate"] = None
        self.promoted = True

    def _session(self, creds) -> None:
        site, s = self.site, self.state
        s["uplink_at"] = self.dt  # still there at the next start: this uplink reset the board
        self.save()
        kept = {key: site[key] for key in ("wifi_ssid", "wifi_key")}
        if creds and "wifi_ssid" in creds:  # try the new network (the board reads site)
            site.update({key: creds[key] for key in ("wifi_ssid", "wifi_key") if key in creds})
        try:
            self.board.wifi_up(site["wifi_timeout_s"])
        except hw.NetError:
            site.update(kept)
            s["uplink_at"] = None
            raise
        self.password = creds["password"] if creds else site["password"]
        try:
            self.rssi = self.board.rssi()
            if not self.clock_set() or self.dt - s.get("last_ntp", -(10**9)) >= self.cfg["ntp_s"]:
                self._sync_time()
            self._time_for_tls()
            client = mqtt.Client(
                self.device,
                user=self.device,
                password=self.password,
                keepalive=60,
                will=(wire.topic(self.device, "status"), wire.OFFLINE, True),
            )
            client.on_message = self._on_message
            try:
                client.connect(self.board.connect(site["broker_host"], site["broker_port"], site["tls"], 10))
            except hw.NetError:
                site.update(kept)
                raise
            if creds:
                self._promote(creds)
            try:
                client.subscribe(wire.topic(self.device, "config"))
                client.subscribe(wire.topic(self.device, "ack"))
                client.subscribe(wire.topic(self.device, "secret"))
                if site["update_key"]:
                    client.subscribe(wire.topic(self.device, "update"))
                while client.wait(300):  # the retained config, ack (and update) arrive now
                    pass
                if self.updater is not None and self.updater.wanted():  # a signed update offered: its files
                    client.subscribe(wire.topic(self.device, "update/+"))
                    for _ in range(64):
                        if not client.wait(1000):
                            break
                self._apply_config()
                client.publish(wire.topic(self.device, "status"), self.status(), retain=True)
                s["last_status"] = self.dt
                s["err"] = None
                self.flush(client)
                s["net_fails"] = 0
                s["net_next"] = 0
                s["last_send"] = self.dt
                s["report"] = False
                s["brown"] = 0
                s["lowbat"] = 0
                client.disconnect()
            finally:
                client.close()
        finally:
            s["uplink_at"] = None
            self.board.wifi_down()
            self.save()

    def flush(self, client) -> None:
        """Send the backlog oldest first, one batch at a time, each confirmed by the
        server's watermark before the next (QoS 1 to the broker is not storage).
        Bounded: at most ``flush_s`` in all, and a batch waits for its ack at most
        ``ack_wait_s`` of silence or 20 messages a second of anything else (a broker
        that keeps talking cannot keep the gauge awake)."""
        start = self.clock.ticks_ms()
        topic = wire.topic(self.device, "reading")
        while hw.ticks_diff(self.clock.ticks_ms(), start) < self.cfg["flush_s"] * 1000:
            self.board.feed()
            records = self.buffer.pending(self.cfg["batch"])
            if not records:
                return
            batch = wire.Batch(records, self.dt, self.rssi)
            client.publish_stream(topic, batch.size, batch.write)
            last = batch.last
            quiet = 0  # seconds without any message from the broker
            other = 0  # messages that were not the ack
            while self.buffer.acked < last:
                if quiet >= self.cfg["ack_wait_s"] or other >= 20 * self.cfg["ack_wait_s"]:
                    self.state["err"] = "no ack for seq %d" % last
                    return
                if not client.wait(1000):
                    quiet += 1
                else:
                    other += 1
                self.board.feed()
            self.save()
        self.state["err"] = "flush cut at %d s: the rest goes next time" % self.cfg["flush_s"]


def main() -> None:
    """Entry point on a board (main.py). If even starting fails (a broken config.py,
    a flash error), the board says why and tries again after a minute's deep sleep."""
    try:
        import sensors

        try:
            import config  # type: ignore[import-not-found]  # the site's file, from config_example.py

            site = settings.site_settings(config.SETTINGS)
        except ImportError:
            site = settings.site_settings({})
            print("kawamori: no config.py; copy config_example.py and fill it in")
        board = hw.Board(site)
        clock = hw.Clock(light=site["deep_sleep"], feed=board.feed)
        gauge = Gauge(site, board, clock, sensors.make(site, clock), "/data")
    except Exception as error:  # noqa: BLE001 - never brick: sleep and start again
        print("kawamori: start failed:", error)
        import machine

        machine.deepsleep(60000)
        return
    while True:
        board.sleep(gauge.run_cycle())
