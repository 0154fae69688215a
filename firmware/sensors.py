"""Sensor drivers. A driver is one small class with ``read()``: one sample in
millimetres, or None when the sensor gave no usable answer (no echo, bad frame),
plus ``MIN_MM``/``MAX_MM`` (what it can measure) and ``DEPTH`` (False: the sample is
the distance down to the water; True: it is the water depth above the sensor).

``temp_c`` is a callable giving the air temperature in tenths of a °C (or None)
for the speed-of-sound correction (:func:`compensate`): a DS18B20 next to the sensor
(``temp_pin``), else the site's constant ``air_temp_c``.
"""

import sys
import time

import hw

SOUND_REF = 3433  # the speed of sound (0.1 m/s) the A02YYUW assumes, 20 °C
READ_MS = 400  # a UART sensor sends a frame every ~100 ms: 400 ms without one is a failed sample


def sound_speed_mm_s(temp_dc: int) -> int:
    """Speed of sound in dry air in mm/s at ``temp_dc`` tenths of a °C: 331.3 + 0.606 T m/s
    (integers only: the same on an ESP32's single-precision floats)."""
    return 331300 + 606 * temp_dc // 10


def compensate(mm: int, temp_dc, ref_mm_s: int = SOUND_REF * 100) -> int:
    """A distance a sensor computed with the speed of sound ``ref_mm_s`` corrected to the
    air temperature ``temp_dc`` (0.1 °C); unchanged when the temperature is unknown."""
    if temp_dc is None:
        return mm
    return (2 * mm * sound_speed_mm_s(temp_dc) + ref_mm_s) // (2 * ref_mm_s)


class Switch:
    """The sensor's supply switch on a GPIO: ``on_level`` 1 for a load switch or an
    N-MOSFET, 0 for a bare P-MOSFET (on when its gate is low). Between samples the pin
    is held at the off level (``hold``, kept through deep sleep on an ESP32), so a
    floating gate never powers the sensor while the board sleeps."""

    def __init__(self, pin, on_level: int) -> None:
        self.pin = pin
        self.on_level = 1 if on_level else 0
        self.off()

    def on(self) -> None:
        self._hold(False)
        self.pin.value(self.on_level)

    def off(self) -> None:
        self._hold(False)
        self.pin.value(1 - self.on_level)
        self._hold(True)

    def _hold(self, hold: bool) -> None:
        try:
            self.pin.init(hold=hold)
        except (TypeError, ValueError):  # a port without pad hold (Pico W): the level stays driven
            pass


class Sensor:
    """What the drivers share: their limits and the supply switch. Each driver adds its
    own ``read()`` (MicroPython has no ``abc``; a driver without one fails at once)."""

    MIN_MM = 0
    MAX_MM = 10000
    DEPTH = False
    WARM_MS = 0  # after switching the supply on, before the first sample
    switch = None  # a Switch on the sensor's supply, if wired

    def power(self, on: bool) -> int:
        """Switch the sensor's supply around each sample (if wired through a transistor);
        returns the milliseconds to wait before sampling."""
        if self.switch is None:
            return 0
        if on:
            self.switch.on()
            return self.WARM_MS
        self.switch.off()
        return 0


class A02YYUW(Sensor):
    """DFRobot A02YYUW (and JSN-SR04T mode 2/ A02 clones) in UART mode: 9600 baud
    frames ``FF Dh Dl sum`` with the distance in mm; sum = (FF + Dh + Dl) & FF."""

    MIN_MM = 30
    MAX_MM = 4500
    WARM_MS = 500

    def __init__(self, uart, clock, temp_c=None) -> None:
        self.uart = uart
        self.temp_c = temp_c
        self.clock = clock

    def read(self):
        """One frame within READ_MS, or None: a dead or unplugged sensor costs
        READ_MS per sample, not the 40 UART time-outs it used to (8.4 s)."""
        stale = self.uart.any()
        if stale:
            self.uart.read(stale)  # drop stale frames; the module sends every ~100 ms
        start = self.clock.ticks_ms()
        while hw.ticks_diff(self.clock.ticks_ms(), start) < READ_MS:
            frame = self.uart.read(4)
            if not frame or len(frame) < 4:
                self.clock.sleep_ms(10)
                continue
            if frame[0] != 0xFF:
                self.uart.read(1)
                continue
            if (frame[0] + frame[1] + frame[2]) & 0xFF != frame[3]:
                continue
            mm = frame[1] << 8 | frame[2]
            return _compensate(mm, self.temp_c)
        return None


class JSNSR04T(Sensor):
    """JSN-SR04T (or AJ-SR04M) in trigger/echo mode: a 10 µs trigger pulse, the echo
    pulse width is the round trip. ``pulse`` is ``machine.time_pulse_us`` on a board."""

    MIN_MM = 250
    MAX_MM = 4500
    WARM_MS = 200

    def __init__(self, trigger, echo, pulse, temp_c=None) -> None:
        self.trigger = trigger
        self.echo = echo
        self.pulse = pulse
        self.temp_c = temp_c

    def read(self):
        self.trigger.value(0)
        hw.sleep_ms(1)
        self.trigger.value(1)
        time.sleep_us(12)
        self.trigger.value(0)
        micros = self.pulse(self.echo, 1, 40000)
        if micros < 0:
            return None
        temp = self.temp_c() if self.temp_c is not None else None
        speed = sound_speed_mm_s(temp) if temp is not None else SOUND_REF * 100
        return micros * speed // 2000000  # µs × mm/s / 2 → mm


class Pressure(Sensor):
    """A submersible 4–20 mA (through a shunt) or 0.5–4.5 V pressure transducer on the
    ADC. ``zero_uv``/``full_uv`` are the ADC voltages at 0 and ``full_mm`` of water."""

    DEPTH = True
    MIN_MM = 0

    def __init__(self, adc, zero_uv: int, full_uv: int, full_mm: int, average: int = 16) -> None:
        self.adc = adc
        self.zero_uv = zero_uv
        self.full_uv = full_uv
        self.full_mm = full_mm
        self.MAX_MM = full_mm
        self.average = average

    def read(self):
        total = 0
        for _ in range(self.average):
            total += self.adc.read_uv()
        uv = total // self.average
        if uv < self.zero_uv - (self.full_uv - self.zero_uv) // 20:
            return None  # below 4 mA / 0.5 V: broken loop or cable
        return (uv - self.zero_uv) * self.full_mm // (self.full_uv - self.zero_uv)


def _compensate(mm: int, temp_c):
    return compensate(mm, None if temp_c is None else temp_c())


class DS18B20:
    """A DS18B20 on 1-Wire: ``__call__`` gives the temperature in 0.1 °C, or None when it
    does not answer (the sensor then measures without correction, and says so in q)."""

    def __init__(self, pin, clock) -> None:
        import ds18x20  # MicroPython's driver, frozen in the ESP32 firmware
        import onewire

        self.sensor = ds18x20.DS18X20(onewire.OneWire(pin))
        self.clock = clock
        self.roms = self.sensor.scan()

    def __call__(self):
        if not self.roms:
            return None
        try:
            self.sensor.convert_temp()
            self.clock.sleep_ms(750)  # 12-bit conversion
            celsius = self.sensor.read_temp(self.roms[0])
        except Exception:  # noqa: BLE001 - a bad 1-Wire read (CRC, unplugged): no correction
            return None
        if celsius is None or not -400 <= celsius * 10 <= 850:
            return None
        return int(celsius * 10 + (0.5 if celsius >= 0 else -0.5))


class Constant:
    """The site's configured air temperature (0.1 °C), for a gauge without a DS18B20."""

    def __init__(self, temp_dc: int) -> None:
        self.temp_dc = temp_dc

    def __call__(self) -> int:
        return self.temp_dc


def make(site: dict, clock):
    """The sensor named in the site configuration, on a real board."""
    import machine

    kind = site["sensor"]
    temp: DS18B20 | Constant | None = None
    if site["temp_pin"] is not None:
        temp = DS18B20(machine.Pin(site["temp_pin"]), clock)
    elif site["air_temp_c"] is not None:
        temp = Constant(int(site["air_temp_c"] * 10))

    sensor: Sensor
    if kind == "a02yyuw":
        uart = machine.UART(site["uart_id"], 9600, tx=site["tx_pin"], rx=site["rx_pin"], timeout=200)
        sensor = A02YYUW(uart, clock, temp)
    elif kind == "jsn-sr04t":
        trigger = machine.Pin(site["trigger_pin"], machine.Pin.OUT)
        echo = machine.Pin(site["echo_pin"], machine.Pin.IN)
        sensor = JSNSR04T(trigger, echo, machine.time_pulse_us, temp)
    elif kind == "pressure":
        adc = machine.ADC(machine.Pin(site["adc_pin"]))
        if hasattr(adc, "atten"):
            adc.atten(machine.ADC.ATTN_11DB)
        sensor = Pressure(adc, site["zero_uv"], site["full_uv"], site["full_mm"])
    else:
        raise ValueError("unknown sensor %r" % kind)
    if site["sensor_power_pin"] is not None:
        pin = machine.Pin(site["sensor_power_pin"], machine.Pin.OUT, value=1 - site["sensor_power_on"])
        sensor.switch = Switch(pin, site["sensor_power_on"])  # type: ignore[assignment]  # declared None
        if sys.platform == "esp32":
            import esp32

            hold = getattr(esp32, "gpio_deep_sleep_hold", None)  # digital pads: held in deep sleep too
            if hold is not None:
                hold(True)
    return sensor
