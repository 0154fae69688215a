"""A cellular uplink for sites without Wi-Fi: a modem on a UART (SIMCom SIM7080G,
SIM7600 and the like: any that speaks 3GPP AT commands and PPP) brought up with AT
commands, then MicroPython's ``network.PPP`` over the same UART. The TLS and MQTT path
above it is the Wi-Fi one, unchanged: :class:`Cellular` has the Wi-Fi methods the
gauge uses (``up``, ``down``, ``rssi``).

Everything it touches is passed in (the UART, a PPP factory, the clock, the modem's
power pin), so it runs against a fake modem in the tests.
"""

import hw


class ModemError(hw.NetError):
    """The modem did not answer, refused a command, or the PPP link did not come up."""


def chat(uart, clock, command: str, expect: str, timeout_ms: int) -> str:
    """Send ``command`` and read until a line is ``expect`` (the reply), ERROR, or the
    time-out; returns everything read."""
    stale = uart.any()
    if stale:
        uart.read(stale)
    uart.write(command.encode() + b"\r")
    reply = b""
    start = clock.ticks_ms()
    while hw.ticks_diff(clock.ticks_ms(), start) < timeout_ms:
        data = uart.read(64)
        if not data:
            clock.sleep_ms(50)
            continue
        reply += data
        lines = [line.strip() for line in reply.decode("utf-8", "replace").split("\n")]
        if any(line == expect or line.startswith(expect + " ") for line in lines):  # "CONNECT 150000000"
            return "\n".join(lines)
        if any(line == "ERROR" or "ERROR(" in line or line.startswith("+CME ERROR") for line in lines):
            raise ModemError("modem: %s refused: %s" % (command, " ".join(lines).strip()[:60]))
    raise ModemError("modem: no %s to %s in %d ms" % (expect, command, timeout_ms))


class Cellular:
    def __init__(self, site: dict, uart, make_ppp, clock, power_pin=None) -> None:
        self.site = site
        self.uart = uart
        self.make_ppp = make_ppp  # network.PPP on a board
        self.clock = clock
        self.power_pin = power_pin
        self.ppp = None  # the network.PPP link while up
        self.csq: int | None = None  # signal quality 0-31 from AT+CSQ

    def up(self, timeout_s: int) -> None:
        """Power the modem, register, dial and bring PPP up within ``timeout_s``."""
        clock = self.clock
        if self.power_pin is not None:
            self.power_pin.value(1)
        start = clock.ticks_ms()
        deadline = timeout_s * 1000
        while True:  # the modem boots: AT until it answers
            try:
                chat(self.uart, clock, "AT", "OK", 1000)
                break
            except ModemError:
                if hw.ticks_diff(clock.ticks_ms(), start) > deadline:
                    self.down()
                    raise ModemError("modem: no answer in %d s" % timeout_s) from None
        chat(self.uart, clock, "ATE0", "OK", 1000)
        apn = self.site["ppp_apn"]
        chat(self.uart, clock, 'AT+CGDCONT=1,"IP","%s"' % apn, "OK", 2000)
        self.csq = None
        while True:  # registered on the network (home or roaming)?
            reply = chat(self.uart, clock, "AT+CEREG?", "OK", 2000)
            if "+CEREG: 0,1" in reply or "+CEREG: 0,5" in reply:
                break
            if hw.ticks_diff(clock.ticks_ms(), start) > deadline:
                self.down()
                raise ModemError("modem: not registered in %d s" % timeout_s)
            clock.sleep_ms(1000)
        reply = chat(self.uart, clock, "AT+CSQ", "OK", 1000)
        for line in reply.split("\n"):
            if line.startswith("+CSQ:"):
                value = int(line[5:].split(",")[0])
                self.csq = None if value == 99 else value
        chat(self.uart, clock, "ATD*99#", "CONNECT", 10000)
        link = self.make_ppp(self.uart)
        self.ppp = link
        link.active(True)
        link.connect()
        while not link.isconnected():
            if hw.ticks_diff(clock.ticks_ms(), start) > deadline:
                self.down()
                raise ModemError("PPP: no link in %d s" % timeout_s)
            clock.sleep_ms(100)

    def rssi(self):
        """dBm from the last AT+CSQ (-113 + 2 × CSQ), or None."""
        return None if self.csq is None else -113 + 2 * self.csq

    def down(self) -> None:
        """Close PPP, hang up and power the modem off (it draws tens of mA idle)."""
        if self.ppp is not None:
            try:
                self.ppp.disconnect()
                self.ppp.active(False)
            except OSError:
                pass
            self.ppp = None
        if self.power_pin is not None:
            self.power_pin.value(0)
