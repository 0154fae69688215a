"""Sensor drivers. A driver is one small class with ``read()``: one sample in
millimetres, or None when the sensor gave no usable answer (no echo, bad frame),
plus ``MIN_MM``/``MAX_MM`` (what it can measure) and ``DEPTH`` (False: the sample is
the distance down to the water; True: it is the water depth above the sensor).

``temp_c`` is a callable giving the air temperature in °C (or None) for the
speed-of-sound correction; ultrasonic modules assume a fixed speed of sound.
"""

import time

import hw

SOUND_REF = 3433  # the speed of sound (0.1 m/s) the A02YYUW assumes, 20 °C


def sound_speed_dm_s(temp_c) -> int:
    """Speed of sound in air in 0.1 m/s: 331.3 + 0.606 T."""
    return int(3313 + 6.06 * temp_c)


class Sensor:
    """What the drivers share: their limits and the supply switch. Each driver adds its
    own ``read()`` (MicroPython has no ``abc``; a driver without one fails at once)."""

    MIN_MM = 0
    MAX_MM = 10000
    DEPTH = False
    WARM_MS = 0  # after switching the supply on, before the first sample
    power_pin = None  # a machine.Pin driving the sensor's supply switch, if wired

    def power(self, on: bool) -> int:
        """Switch the sensor's supply around each sample (if wired through a transistor);
        returns the milliseconds to wait before sampling."""
        if self.power_pin is None:
            return 0
        self.power_pin.value(1 if on else 0)
        return self.WARM_MS if on else 0


class A02YYUW(Sensor):
    """DFRobot A02YYUW (and JSN-SR04T mode 2/ A02 clones) in UART mode: 9600 baud
    frames ``FF Dh Dl sum`` with the distance in mm; sum = (FF + Dh + Dl) & FF."""

    MIN_MM = 30
    MAX_MM = 4500
    WARM_MS = 500

    def __init__(self, uart, temp_c=None, clock=None) -> None:
        self.uart = uart
        self.temp_c = temp_c
        self.clock = clock

    def read(self):
        buffered = self.uart.read()  # drop stale frames; the module sends every ~100 ms
        del buffered
        for _ in range(40):
            frame = self.uart.read(4)
            if not frame or len(frame) < 4:
                if self.clock is not None:
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
        speed = sound_speed_dm_s(temp) if temp is not None else SOUND_REF
        return micros * speed // 20000  # µs × dm/s / 2 → mm


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
    if temp_c is None:
        return mm
    temp = temp_c()
    if temp is None:
        return mm
    return mm * sound_speed_dm_s(temp) // SOUND_REF


def make(site: dict, clock):
    """The sensor named in the site configuration, on a real board."""
    import machine

    kind = site["sensor"]
    temp = None
    if site["air_temp_c"] is not None:
        fixed = site["air_temp_c"]

        def temp():
            return fixed

    sensor: Sensor
    if kind == "a02yyuw":
        uart = machine.UART(site["uart_id"], 9600, tx=site["tx_pin"], rx=site["rx_pin"], timeout=200)
        sensor = A02YYUW(uart, temp, clock)
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
        pin = machine.Pin(site["sensor_power_pin"], machine.Pin.OUT, value=0)
        sensor.power_pin = pin  # type: ignore[assignment]  # declared None: no switch wired
    return sensor
