// Kawamori gauge payload codec for a LoRaWAN network server's payload formatter
// (LoRaWAN Payload Codec API, TS013: decodeUplink / encodeDownlink / decodeDownlink).
// Paste into ChirpStack v4 (device profile > Codec > JavaScript) or The Things Stack v3
// (Payload formatters > Custom Javascript formatter). ES5 only: it runs in QuickJS and goja.
// The same codec as kawamori/lorawan.py; tests/ingest/test_lorawan.py checks both agree.
//
// Uplink on fPort 1, 11 bytes, big-endian: version 1, seq (uint32), level in mm (int24),
// battery ((mV - 2000) / 10, 0 = unknown), quality flags, age in minutes.
// Downlink on fPort 2: version 1, cfg (uint16), then up to two (key number, int24 value).

var VERSION = 1;
var FPORT_READING = 1;
var FPORT_CONFIG = 2;
// key number: [setting, multiplier from the setting's unit to the wire's]
var CONFIG_KEYS = {
  1: ["slow_s", 1], 2: ["fast_s", 1], 3: ["send_s", 1], 4: ["fast_on_m", 1000],
  5: ["fast_off_m", 1000], 6: ["mount_m", 1000], 7: ["rise_m_h", 1000], 8: ["samples", 1],
  9: ["burst_s", 1], 10: ["health_s", 1]
};
var INT24 = 8388607;

function int24(bytes, at) {
  var value = (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2];
  return value > INT24 ? value - 16777216 : value;
}

function decodeUplink(input) {
  var bytes = input.bytes;
  if (input.fPort !== FPORT_READING) {
    return { errors: ["fPort " + input.fPort + " is not a reading (1)"] };
  }
  if (bytes.length !== 11) {
    return { errors: ["a reading is 11 bytes, not " + bytes.length] };
  }
  if (bytes[0] !== VERSION) {
    return { errors: ["unknown payload version " + bytes[0]] };
  }
  var data = {
    seq: ((bytes[1] << 24) >>> 0) + (bytes[2] << 16) + (bytes[3] << 8) + bytes[4],
    level_mm: int24(bytes, 5),
    battery_mv: bytes[8] ? 2000 + 10 * bytes[8] : null,
    quality: bytes[9],
    age_min: bytes[10]
  };
  data.level_m = data.level_mm / 1000;
  return { data: data };
}

function keyNumber(name) {
  for (var number in CONFIG_KEYS) {
    if (CONFIG_KEYS[number][0] === name) {
      return Number(number);
    }
  }
  return null;
}

function encodeDownlink(input) {
  var data = input.data || {};
  var cfg = data.cfg;
  if (typeof cfg !== "number" || cfg % 1 !== 0 || cfg < 0 || cfg > 65535) {
    return { errors: ["cfg must be an integer 0-65535"] };
  }
  var bytes = [VERSION, cfg >> 8, cfg & 255];
  var names = Object.keys(data).filter(function (name) { return name !== "cfg"; });
  if (names.length > 2) {
    return { errors: ["a downlink carries at most two settings; send the rest in the next"] };
  }
  for (var i = 0; i < names.length; i++) {
    var number = keyNumber(names[i]);
    if (number === null) {
      return { errors: [names[i] + " cannot be set over LoRaWAN"] };
    }
    var value = Math.round(data[names[i]] * CONFIG_KEYS[number][1]);
    if (!(value >= -INT24 && value <= INT24)) {
      return { errors: [names[i] + "=" + data[names[i]] + " does not fit 24 bits"] };
    }
    var wire = value < 0 ? value + 16777216 : value;
    bytes.push(number, (wire >> 16) & 255, (wire >> 8) & 255, wire & 255);
  }
  return { bytes: bytes, fPort: FPORT_CONFIG };
}

function decodeDownlink(input) {
  var bytes = input.bytes;
  if (input.fPort !== FPORT_CONFIG || bytes.length < 3 || (bytes.length - 3) % 4 !== 0 || bytes[0] !== VERSION) {
    return { errors: ["not a configuration downlink v1"] };
  }
  var data = { cfg: (bytes[1] << 8) | bytes[2] };
  for (var at = 3; at < bytes.length; at += 4) {
    var key = CONFIG_KEYS[bytes[at]];
    if (!key) {
      return { errors: ["unknown setting number " + bytes[at]] };
    }
    data[key[0]] = int24(bytes, at + 1) / key[1];
  }
  return { data: data };
}
