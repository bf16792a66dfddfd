"""Trust: conformal sets, applicability domain, measured neighbours, atom attributions."""
