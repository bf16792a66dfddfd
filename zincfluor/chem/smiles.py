"""Parse and canonicalise SMILES with reasons a chemist can act on.

RDKit answers a bad SMILES with ``None`` and prints the reason to its log. Here the fast path
parses with RDKit's log silenced; only when parsing fails is the input parsed again with the
log captured, so the reason ("unclosed ring", "explicit valence for atom # 0 C, 5, is greater
than permitted") travels with the error instead of scrolling past on stderr.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading

from rdkit import Chem, RDLogger, rdBase

__all__ = [
    "InvalidMoleculeError",
    "parse_smiles",
    "mol_from_smiles",
    "parse_mol",
    "strict_smiles_problem",
    "canonical_smiles",
    "try_canonical_smiles",
]

RDLogger.DisableLog("rdApp.*")

DEFAULT_MAX_SMILES_LENGTH = 2000
DEFAULT_MAX_HEAVY_ATOMS = 250

_capture_lock = threading.Lock()
_TIMESTAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]\s*")

# A bracket atom of hydrogen: [H], [2H], [H+] (but not [Hg], [He], ...). Only these put
# hydrogen atoms in the parsed graph.
_HYDROGEN_ATOM = re.compile(r"\[\d*H(?![a-z])")
_KEEP_HYDROGENS = Chem.SmilesParserParams()
_KEEP_HYDROGENS.removeHs = False


def mol_from_smiles(text: str) -> Chem.Mol | None:
    """``Chem.MolFromSmiles(text)``, faster when there is no hydrogen atom to remove.

    RDKit's hydrogen removal step takes about a quarter of the parse even when there is
    nothing to remove; without it the molecule is sanitised and stereo-perceived the same way.
    """
    if _HYDROGEN_ATOM.search(text):
        return Chem.MolFromSmiles(text)
    return Chem.MolFromSmiles(text, _KEEP_HYDROGENS)


class InvalidMoleculeError(ValueError):
    """A SMILES that cannot become a molecule graph, with the reason why.

    Attributes
    ----------
    smiles : the input as given
    reason : a short human-readable reason ("unclosed ring", "empty SMILES", ...)
    """

    def __init__(self, smiles: object, reason: str):
        self.smiles = smiles
        self.reason = reason
        super().__init__(f"{smiles!r} is not a valid molecule ({reason})")


def _rdkit_reason(smiles: str) -> str:
    """Parse ``smiles`` again with RDKit's error log captured and return its first complaint."""
    buffer = io.StringIO()
    with _capture_lock:
        rdBase.LogToPythonStderr()
        RDLogger.EnableLog("rdApp.error")
        try:
            with contextlib.redirect_stderr(buffer):
                Chem.MolFromSmiles(smiles)
        finally:
            RDLogger.DisableLog("rdApp.*")
    for line in buffer.getvalue().splitlines():
        line = _TIMESTAMP.sub("", line).strip()
        if not line:
            continue
        line = line.removeprefix("SMILES Parse Error: ")
        line = re.sub(r"\s+for input: '.*'$", "", line)
        line = re.sub(r"\s+while parsing: .*$", "", line)
        return line[:1].lower() + line[1:]
    return "RDKit could not parse it"


# A CXSMILES extension after the SMILES: one space, then |...|.
_CXSMILES_TAIL = re.compile(r" \|[^|]*\|$")


def strict_smiles_problem(text: str) -> str | None:
    """Why ``text`` (already stripped) is not exactly one SMILES, or ``None`` when it is.

    RDKit reads a SMILES up to the first space and takes the rest for a name, so ``"C C"`` would
    be methane and ``"CCO extra garbage"`` ethanol; it also reads ``"CCé"`` as ethane. An input
    is one SMILES only when it is printable ASCII without spaces (a CXSMILES ``|...|`` extension
    after one space is allowed).
    """
    body = _CXSMILES_TAIL.sub("", text)
    for position, char in enumerate(body):
        if char.isspace():
            return (f"whitespace at position {position}: a SMILES is one token (put names and "
                    "other text in their own column)")
        if not " " < char < "\x7f":
            code = f"U+{ord(char):04X}"
            kind = "control character" if ord(char) < 32 or ord(char) == 127 else "character"
            return f"{kind} {code} at position {position} cannot be part of a SMILES"
    return None


def parse_smiles(
    smiles: object,
    *,
    max_length: int | None = DEFAULT_MAX_SMILES_LENGTH,
    max_heavy_atoms: int | None = DEFAULT_MAX_HEAVY_ATOMS,
) -> Chem.Mol:
    """Return the sanitised RDKit molecule of ``smiles`` or raise :class:`InvalidMoleculeError`.

    Rejects non-strings, empty strings, SMILES longer than ``max_length`` characters, text that
    is not exactly one SMILES (:func:`strict_smiles_problem`), SMILES RDKit cannot parse or
    sanitise, and molecules with no heavy atom or more than
    ``max_heavy_atoms`` heavy atoms. ``None`` disables a limit.
    """
    if not isinstance(smiles, str):
        raise InvalidMoleculeError(smiles, f"expected a SMILES string, got {type(smiles).__name__}")
    text = smiles.strip()
    if not text:
        raise InvalidMoleculeError(smiles, "empty SMILES")
    if max_length is not None and len(text) > max_length:
        raise InvalidMoleculeError(
            smiles, f"SMILES has {len(text)} characters, more than the limit of {max_length}"
        )
    problem = strict_smiles_problem(text)
    if problem is not None:
        raise InvalidMoleculeError(smiles, problem)
    mol = mol_from_smiles(text)
    if mol is None:
        raise InvalidMoleculeError(smiles, _rdkit_reason(text))
    n_heavy = mol.GetNumHeavyAtoms()
    if n_heavy == 0:
        raise InvalidMoleculeError(smiles, "molecule has no heavy atoms")
    if max_heavy_atoms is not None and n_heavy > max_heavy_atoms:
        raise InvalidMoleculeError(
            smiles, f"{n_heavy} heavy atoms, more than the limit of {max_heavy_atoms}"
        )
    return mol


def _mol_text(mol: Chem.Mol) -> str:
    """Something to name an RDKit molecule by in an error: its SMILES, else its title."""
    try:
        return Chem.MolToSmiles(mol)
    except Exception:  # noqa: BLE001 - an unsanitisable molecule may not write
        return mol.GetProp("_Name") if mol.HasProp("_Name") else "RDKit molecule"


def parse_mol(
    mol: Chem.Mol,
    *,
    max_length: int | None = DEFAULT_MAX_SMILES_LENGTH,
    max_heavy_atoms: int | None = DEFAULT_MAX_HEAVY_ATOMS,
) -> Chem.Mol:
    """A sanitised copy of an RDKit molecule (e.g. an SDF record as drawn), its explicit
    hydrogens removed as :func:`parse_smiles` removes them, under the same limits.

    The input is not changed. Its stereo (what RDKit read from a drawing's wedges and
    coordinates) is kept: it is assigned to atoms and double bonds as the SMILES parser assigns
    it, then the coordinates are dropped, so the standardisation steps see what the molecule's
    SMILES would give (InChI would otherwise read stereo from the coordinates into bonds that a
    resonance form makes double).
    ``max_length`` applies to the molecule's SMILES. Raises :class:`InvalidMoleculeError` when
    RDKit cannot sanitise it (the reason is RDKit's) or a limit is exceeded.
    """
    copy = Chem.Mol(mol)
    try:
        Chem.SanitizeMol(copy)
        if copy.GetNumAtoms() != copy.GetNumHeavyAtoms():  # RemoveHs costs a sanitisation
            copy = Chem.RemoveHs(copy)
        Chem.AssignStereochemistry(copy, cleanIt=True, force=True)  # as the SMILES parser does
        copy.RemoveAllConformers()
    except Exception as error:  # noqa: BLE001 - RDKit raises one of several sanitize errors
        reason = str(error).strip() or type(error).__name__
        raise InvalidMoleculeError(_mol_text(mol), reason[:1].lower() + reason[1:]) from None
    n_heavy = copy.GetNumHeavyAtoms()
    if n_heavy == 0:
        raise InvalidMoleculeError(_mol_text(copy), "molecule has no heavy atoms")
    if max_heavy_atoms is not None and n_heavy > max_heavy_atoms:
        raise InvalidMoleculeError(
            _mol_text(copy), f"{n_heavy} heavy atoms, more than the limit of {max_heavy_atoms}"
        )
    if max_length is not None:
        length = len(Chem.MolToSmiles(copy))
        if length > max_length:
            raise InvalidMoleculeError(
                "RDKit molecule",
                f"SMILES has {length} characters, more than the limit of {max_length}",
            )
    return copy


def canonical_smiles(smiles: object, **limits: int | None) -> str:
    """Canonical RDKit SMILES (isomeric) of ``smiles``; raises :class:`InvalidMoleculeError`."""
    return Chem.MolToSmiles(parse_smiles(smiles, **limits))


def try_canonical_smiles(smiles: object, **limits: int | None) -> tuple[str | None, str | None]:
    """``(canonical, None)`` for a valid SMILES, ``(None, reason)`` for an invalid one."""
    try:
        return canonical_smiles(smiles, **limits), None
    except InvalidMoleculeError as error:
        return None, error.reason
