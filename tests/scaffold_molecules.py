"""63 small molecules on 19 Bemis-Murcko scaffolds of different set sizes (ties included)."""

import numpy as np

_BY_SCAFFOLD = {
    "benzene": [
        "Cc1ccccc1",
        "Oc1ccccc1",
        "Nc1ccccc1",
        "Clc1ccccc1",
        "OC(=O)c1ccccc1",
        "COc1ccccc1",
        "CCc1ccccc1",
        "N#Cc1ccccc1",
        "Fc1ccccc1",
        "O=[N+]([O-])c1ccccc1",
        "O=Cc1ccccc1",
        "CC(=O)c1ccccc1",
    ],
    "acyclic": ["CCO", "CCCC", "CCN", "CC(=O)O", "CCCCCl", "CC(C)C", "OCCO"],
    "pyridine": [
        "Cc1ccncc1",
        "Oc1ccncc1",
        "Nc1ccncc1",
        "Clc1ccncc1",
        "OC(=O)c1ccncc1",
        "COc1ccncc1",
    ],
    "naphthalene": [
        "Cc1ccc2ccccc2c1",
        "Oc1ccc2ccccc2c1",
        "Nc1ccc2ccccc2c1",
        "c1ccc2ccccc2c1",
        "Clc1cccc2ccccc12",
    ],
    "cyclohexane": ["CC1CCCCC1", "OC1CCCCC1", "NC1CCCCC1", "C1CCCCC1", "ClC1CCCCC1"],
    "indole": ["Cc1c[nH]c2ccccc12", "c1ccc2[nH]ccc2c1", "Oc1ccc2[nH]ccc2c1", "Nc1ccc2[nH]ccc2c1"],
    "coumarin": [
        "O=c1ccc2ccccc2o1",
        "CN(C)c1ccc2ccc(=O)oc2c1",
        "Oc1ccc2ccc(=O)oc2c1",
        "Cc1cc(=O)oc2ccccc12",
    ],
    "biphenyl": [
        "c1ccc(-c2ccccc2)cc1",
        "Cc1ccc(-c2ccccc2)cc1",
        "Oc1ccc(-c2ccccc2)cc1",
        "Nc1ccc(-c2ccccc2)cc1",
    ],
    "thiophene": ["Cc1cccs1", "c1ccsc1", "Oc1cccs1"],
    "furan": ["Cc1ccco1", "c1ccoc1"],
    "anthracene": ["c1ccc2cc3ccccc3cc2c1", "Cc1ccc2cc3ccccc3cc2c1"],
    "quinoline": ["c1ccc2ncccc2c1", "Cc1ccc2ncccc2c1"],
    "pyrene": ["c1cc2ccc3cccc4ccc(c1)c2c34"],
    "carbazole": ["c1ccc2c(c1)[nH]c1ccccc12"],
    "fluorene": ["C1c2ccccc2-c2ccccc21"],
    "diphenylmethane": ["c1ccc(Cc2ccccc2)cc1"],
    "stilbene": ["C(=C/c1ccccc1)\\c1ccccc1"],
    "acridine": ["c1ccc2nc3ccccc3cc2c1"],
    "cyclopentane": ["CC1CCCC1"],
}


def scaffold_molecules() -> list[str]:
    """The molecules in a fixed shuffled order, so scaffold sets interleave."""
    molecules = [smiles for group in _BY_SCAFFOLD.values() for smiles in group]
    order = np.random.default_rng(7).permutation(len(molecules))
    return [molecules[index] for index in order]
