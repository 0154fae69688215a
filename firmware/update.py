"""Firmware updates in the field, signed at the desk (`kawamori device update`) and
checked on the gauge before anything is installed.

The server offers an update as a retained ``update`` message: a 64-byte ECDSA P-256
signature, then the manifest it signs, ``{"v":1,"fw":"0.2.0","files":[[name, size,
sha256 hex], …]}``. The gauge checks the signature against its ``update_key`` (from
config.py; no key, no updates), then takes each file from ``update/<name>`` and keeps
it in ``stage/`` only if its size and SHA-256 are the manifest's. When every file is
there it installs them: each replaced file is moved to ``prev/`` first, then the staged
one into place, and the board restarts on trial. The new version must get a reading
confirmed by the server within ``TRIAL_BOOTS`` starts; if it does not (it crashes, it
hangs, it cannot connect), the files in ``prev/`` go back and that version is never
taken again. ``main.py`` (never updated) also puts ``prev/`` back if ``app`` cannot even
be imported.
"""

import binascii
import hashlib
import os

import ecdsa
import hw

TRIAL_BOOTS = 6
NOT_UPDATED = ("main.py", "config.py")  # the boot loader and the site's secrets


def _hex(data) -> str:
    return "".join("%02x" % b for b in data)


def restore(root: str) -> list:
    """Put every file in ``root/prev`` back in place; the names restored."""
    done: list = []
    try:
        names = os.listdir(root + "/prev")
    except OSError:
        return done
    for name in names:
        hw.rename(root + "/prev/" + name, root + "/" + name)
        done.append(name)
    return done


class Updater:
    def __init__(self, root: str, state: dict, key_hex, running: str) -> None:
        self.root = root
        self.state = state  # the gauge's state dict: "upd" (offered), "trial", "rejected"
        self.key = binascii.unhexlify(key_hex) if key_hex else None
        self.running = running

    # -- offered --------------------------------------------------------------------
    def offer(self, payload: bytes):
        """A signed manifest: the error why it is refused, or None (taken, or nothing
        new). Files arrive next, each checked as it comes."""
        if self.key is None:
            return "update refused: no update_key in config.py"
        signature, manifest = payload[:64], payload[64:]
        if not ecdsa.verify(self.key, manifest, signature):
            return "update refused: bad signature"
        try:
            document = hw.loads(manifest)
        except (ValueError, UnicodeError):
            return "update refused: manifest is not JSON"
        if not isinstance(document, dict) or document.get("v") != 1:
            return "update refused: unknown manifest"
        version, files = document.get("fw"), document.get("files")
        if not isinstance(version, str) or not isinstance(files, list) or not files:
            return "update refused: manifest without fw or files"
        for entry in files:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)):
                return "update refused: bad file entry"
            if "/" in entry[0] or entry[0] in NOT_UPDATED or entry[0].startswith("."):
                return "update refused: may not replace %s" % entry[0]
        if version == self.running or version in self.state.get("rejected", []):
            return None
        if self.state.get("trial"):
            return None  # one update at a time
        current = self.state.get("upd")
        if not current or current["fw"] != version:
            self.state["upd"] = {"fw": version, "files": files, "have": []}
        return None

    def wanted(self) -> bool:
        return bool(self.state.get("upd"))

    def file(self, name: str, data: bytes):
        """A file of the offered update: kept in stage/ if it is the manifest's; the
        error otherwise (the update then waits for a correct copy)."""
        offered = self.state.get("upd")
        if not offered:
            return None
        for entry_name, size, digest in offered["files"]:
            if entry_name != name:
                continue
            if len(data) != size or _hex(hashlib.sha256(data).digest()) != digest:
                return "update %s: %s does not match its manifest" % (offered["fw"], name)
            try:
                os.mkdir(self.root + "/stage")
            except OSError:
                pass
            with open(self.root + "/stage/" + name, "wb") as handle:
                handle.write(data)
            if name not in offered["have"]:
                offered["have"].append(name)
            return None
        return None

    def ready(self) -> bool:
        offered = self.state.get("upd")
        if not offered:
            return False
        return len(offered["have"]) == len(offered["files"])

    # -- installed --------------------------------------------------------------------
    def install(self, next_seq: int) -> str:
        """Move the staged files into place (the replaced ones to prev/); the caller saves
        the state and restarts the board. Returns the version installed."""
        offered = self.state.pop("upd", None)
        assert offered is not None, "install() before ready()"
        restore(self.root)  # nothing left over from an earlier trial
        try:
            os.mkdir(self.root + "/prev")
        except OSError:
            pass
        added = []
        for name, _, _ in offered["files"]:
            if hw.exists(self.root + "/" + name):
                hw.rename(self.root + "/" + name, self.root + "/prev/" + name)
            else:
                added.append(name)
            hw.rename(self.root + "/stage/" + name, self.root + "/" + name)
        self.state["trial"] = {
            "fw": offered["fw"],
            "from": self.running,
            "boots": 0,
            "seq": next_seq,
            "added": added,
        }
        self.state["report"] = True  # the new version connects at its first start, to be confirmed
        return offered["fw"]

    def boot(self):
        """At every start: count a trial's boots; roll it back when it had its chances
        or when the old version is running again (main.py restored it). Returns what
        happened ("rollback", "restored") or None."""
        trial = self.state.get("trial")
        if not trial:
            return None
        if self.running != trial["fw"]:  # main.py put prev/ back: the new one did not import
            self._reject(trial)
            return "restored"
        trial["boots"] += 1
        if trial["boots"] > TRIAL_BOOTS:
            restore(self.root)
            for name in trial["added"]:
                try:
                    os.remove(self.root + "/" + name)
                except OSError:
                    pass
            self._reject(trial)
            return "rollback"
        return None

    def acked(self, seq: int) -> bool:
        """The server stored up to ``seq``: a reading of the new version confirms it."""
        trial = self.state.get("trial")
        if not trial or self.running != trial["fw"] or seq < trial["seq"]:
            return False
        for name in os.listdir(self.root + "/prev") if hw.exists(self.root + "/prev") else []:
            os.remove(self.root + "/prev/" + name)
        self.state["trial"] = None
        return True

    def _reject(self, trial: dict) -> None:
        rejected = self.state.setdefault("rejected", [])
        if trial["fw"] not in rejected:
            rejected.append(trial["fw"])
        self.state["trial"] = None
        self.state["err"] = "update %s rolled back to %s" % (trial["fw"], trial["from"])
