"""Where the chest X-ray data set is.

An explicit path (``--data``) is used alone, and so is ``$MINICNN_DATA`` when set (a wrong
setting is an error, never a silent fall-back to other data). Otherwise each of ``PLACES``
is tried relative to the working directory, then relative to the checkout that holds this
package (so a script run from another folder still finds the data beside the checkout).
This is the one list of places; the command line's help and the report's messages read it
from here.
"""
import os
from pathlib import Path

from ..validation import DataError

#: Folders tried after $MINICNN_DATA, relative to the working directory, then to the checkout.
PLACES = ("data/chest_xray", "../shared/data/chest_xray")

#: The folder holding the ``minicnn`` package: the checkout for an editable install.
CHECKOUT = Path(__file__).resolve().parents[2]

SOURCE = ("Kermany D., Zhang K., Goldbaum M. (2018), 'Labeled Optical Coherence Tomography (OCT) "
          "and Chest X-Ray Images for Classification', Mendeley Data, v2, "
          "doi:10.17632/rscbjbr9sj.2 (CC BY 4.0); unpack it so that "
          "chest_xray/{train,test}/{NORMAL,PNEUMONIA}/ exist")


def describe_places():
    """The search order in words, for help texts and messages."""
    places = ", ".join(f"./{p}" for p in PLACES)
    return (f"$MINICNN_DATA when set, else {places} (from the working directory, then from "
            f"the checkout)")


def candidate_dirs(explicit=None):
    """The places searched, in order (Paths; duplicates removed)."""
    if explicit:
        return [Path(explicit)]
    if os.environ.get("MINICNN_DATA"):
        return [Path(os.environ["MINICNN_DATA"])]
    places = [Path(p) for p in PLACES]
    if (CHECKOUT / "pyproject.toml").is_file():       # an installed wheel has no checkout
        places += [CHECKOUT / p for p in PLACES]
    seen, unique = set(), []
    for place in places:
        key = os.path.normpath(place.absolute())
        if key not in seen:
            seen.add(key)
            unique.append(place)
    return unique


def find_data_dir(explicit=None):
    """The first existing data folder.

    An explicit path must be a folder (DataError when it is a file, FileNotFoundError when
    it does not exist), even if a default place exists. Without one, FileNotFoundError lists
    the places tried and where to get the data.
    """
    if explicit:
        if Path(explicit).exists() and not Path(explicit).is_dir():
            raise DataError(f"--data {explicit} is a file; pass the chest_xray folder that "
                            f"holds train/ and test/")
        if not Path(explicit).is_dir():
            raise FileNotFoundError(f"data folder {explicit} does not exist")
        return Path(explicit)
    for place in candidate_dirs():
        if place.is_dir():
            return place
    tried = "\n  ".join(str(p.absolute()) for p in candidate_dirs())
    raise FileNotFoundError(f"no chest X-ray data found; tried:\n  {tried}\n"
                            f"Get the data set from {SOURCE}, then pass --data DIR or set "
                            f"MINICNN_DATA.")


def run_data_dir(explicit=None, recorded=None):
    """The data folder for a trained run: ``explicit`` (``--data``) alone; else the folder the
    run recorded (``recorded``), which must still exist (FileNotFoundError naming it: never a
    silent fall-back to other images); else, for a model without a run, the usual places
    (:func:`find_data_dir`)."""
    if explicit or not recorded:
        return find_data_dir(explicit)
    if not Path(recorded).is_dir():
        raise FileNotFoundError(f"the run's data folder {recorded} is gone (moved or "
                                f"deleted); give the chest_xray folder with --data DIR")
    return Path(recorded)
