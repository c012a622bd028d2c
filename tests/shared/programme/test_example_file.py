from pathlib import Path

from loyalty_kernel.programme import Programme, load_programme

EXAMPLE = Path(__file__).parents[3] / "deploy" / "programme.example.toml"


def test_the_shipped_example_file_is_exactly_the_built_in_default():
    assert load_programme(EXAMPLE) == Programme()
