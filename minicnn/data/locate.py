"""Where the chest X-ray data set is: an explicit path, $MINICNN_DATA, ./data/chest_xray,
then ../shared/data/chest_xray (relative to the working directory)."""
import os
from pathlib import Path

DEFAULT_PLACES = ("data/chest_xray", "../shared/data/chest_xray")

SOURCE = ("Kermany D., Zhang K., Goldbaum M. (2018), 'Labeled Optical Coherence Tomography (OCT) "
          "and Chest X-Ray Images for Classification', Mendeley Data, v2, "
          "doi:10.17632/rscbjbr9sj.2 (CC BY 4.0); unpack it so that "
          "chest_xray/{train,test}/{NORMAL,PNEUMONIA}/ exist")


def candidate_dirs(explicit=None):
    """The places searched, in order."""
    places = [explicit] if explicit else []
    if os.environ.get("MINICNN_DATA"):
        places.append(os.environ["MINICNN_DATA"])
    return [Path(p) for p in places + list(DEFAULT_PLACES)]


def find_data_dir(explicit=None):
    """The first existing data folder; FileNotFoundError listing the places tried otherwise.
    An explicit path that does not exist is an error even if a default place exists."""
    if explicit and not Path(explicit).is_dir():
        raise FileNotFoundError(f"data folder {explicit} does not exist")
    for place in candidate_dirs(explicit):
        if place.is_dir():
            return place
    tried = "\n  ".join(str(p.absolute()) for p in candidate_dirs(explicit))
    raise FileNotFoundError(f"no chest X-ray data found; tried:\n  {tried}\n"
                            f"Get the data set from {SOURCE}, then pass --data DIR or set "
                            f"MINICNN_DATA.")
