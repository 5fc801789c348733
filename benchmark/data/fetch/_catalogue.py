"""The datasets ``medbench data fetch`` can download: one entry per layout, with where it
comes from, its licence, what to cite, whether commercial use is allowed and its size.

Sources: the authors' own publication where it serves the files over plain HTTP (SIPaKMeD,
mini-MIAS, MedMNIST on Zenodo), Kaggle through ``kagglehub`` where the dataset is published
there (or its Kaggle copy, uploaded by its first author, unpacks as the layout expects:
IQ-OTH/NCCD), and TCIA for CDD-CESM, whose images TCIA hands out only through IBM Aspera
(the annotation workbook is a plain download; the images' zip is given with ``--archive``).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.errors import DataError, suggest

__all__ = ["CATALOGUE", "Entry", "File", "entry"]

_CC_BY = "https://creativecommons.org/licenses/by/4.0/"


@dataclass(frozen=True)
class File:
    """One file of a dataset fetched over HTTP: its URL, where it unpacks under the root
    (``""``: the root itself), its published checksum if any, and whether it is an archive
    (else it is saved as ``name`` under ``into``)."""

    url: str
    name: str
    into: str = ""
    md5: str | None = None
    sha256: str | None = None
    archive: bool = True


@dataclass(frozen=True)
class Entry:
    name: str  # the layout name
    title: str
    source: str  # where the files come from, in words
    homepage: str
    licence: str
    licence_url: str
    citation: str
    commercial: bool  # whether the licence allows commercial use
    size: str  # approximate download size
    host: str = ""  # the source in a few words, for the list
    kaggle: str = ""  # a Kaggle dataset handle, fetched with kagglehub
    files: tuple[File, ...] = ()  # files fetched over HTTP
    manual: str = ""  # what the user downloads by hand and gives with --archive


CATALOGUE: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry(
            "brain-tumor-mri",
            "Brain Tumor MRI Dataset (glioma, meningioma, pituitary, no tumour; 7,023 images)",
            "Kaggle: masoudnickparvar/brain-tumor-mri-dataset (its author's publication)",
            "https://www.kaggle.com/datasets/masoudnickparvar/brain-tumor-mri-dataset",
            "CC0 1.0 (public domain)",
            "https://creativecommons.org/publicdomain/zero/1.0/",
            "Msoud Nickparvar. Brain Tumor MRI Dataset. Kaggle (2021). "
            "doi:10.34740/KAGGLE/DSV/2645886",
            True,
            "≈ 0.15 GB",
            host="Kaggle (kagglehub)",
            kaggle="masoudnickparvar/brain-tumor-mri-dataset",
        ),
        Entry(
            "chest-xray-pneumonia",
            "Chest X-Ray Images (Pneumonia), paediatric; 5,856 images",
            "Kaggle: paultimothymooney/chest-xray-pneumonia (Kermany et al.'s data, Mendeley "
            "Data rscbjbr9sj, as the layout reads it)",
            "https://www.kaggle.com/datasets/paultimothymooney/chest-xray-pneumonia",
            "CC BY 4.0",
            _CC_BY,
            "Kermany, D. S. et al. Identifying Medical Diagnoses and Treatable Diseases by "
            "Image-Based Deep Learning. Cell 172(5), 1122-1131 (2018); data: Kermany, D., "
            "Zhang, K., Goldbaum, M. Labeled Optical Coherence Tomography (OCT) and Chest X-Ray "
            "Images for Classification. Mendeley Data, v2 (2018). doi:10.17632/rscbjbr9sj.2",
            True,
            "≈ 1.2 GB",
            host="Kaggle (kagglehub)",
            kaggle="paultimothymooney/chest-xray-pneumonia",
        ),
        Entry(
            "brain-mri-yes-no",
            "Brain MRI Images for Brain Tumor Detection (yes/no; 253 images)",
            "Kaggle: navoneel/brain-mri-images-for-brain-tumor-detection (its only publication)",
            "https://www.kaggle.com/datasets/navoneel/brain-mri-images-for-brain-tumor-detection",
            "unknown (none stated by the uploader)",
            "https://www.kaggle.com/datasets/navoneel/brain-mri-images-for-brain-tumor-detection",
            "Navoneel Chakrabarty. Brain MRI Images for Brain Tumor Detection. Kaggle (2019).",
            False,
            "≈ 0.02 GB",
            host="Kaggle (kagglehub)",
            kaggle="navoneel/brain-mri-images-for-brain-tumor-detection",
        ),
        Entry(
            "iq-oth-nccd",
            "IQ-OTH/NCCD lung cancer CT (benign, malignant, normal; 1,190 slices)",
            "Kaggle: hamdallak/the-iqothnccd-lung-cancer-dataset, uploaded by its first author; "
            "the authors' publication is Mendeley Data bhmdr45bh2 (same images, cited below)",
            "https://data.mendeley.com/datasets/bhmdr45bh2",
            "CC BY 4.0",
            _CC_BY,
            "Alyasriy, H., AL-Huseiny, M. The IQ-OTH/NCCD lung cancer dataset. Mendeley Data "
            "(2021). doi:10.17632/bhmdr45bh2",
            True,
            "≈ 0.1 GB",
            host="Kaggle, the first author's upload",
            kaggle="hamdallak/the-iqothnccd-lung-cancer-dataset",
        ),
        Entry(
            "sipakmed",
            "SIPaKMeD Pap smear cells (five classes; 4,049 cells from 966 cluster images)",
            "its authors' site at the University of Ioannina (one 7-Zip archive per class)",
            "https://www.cs.uoi.gr/~marina/sipakmed.html",
            "research use, citing the paper (the authors' terms)",
            "https://www.cs.uoi.gr/~marina/sipakmed.html",
            "Plissiti, M. E., Dimitrakopoulos, P., Sfikas, G., Nikou, C., Krikoni, O., "
            "Charchanti, A. SIPAKMED: A new dataset for feature and image based classification "
            "of normal and pathological cervical cells in Pap smear images. IEEE ICIP 2018, "
            "3144-3148. doi:10.1109/ICIP.2018.8451588",
            False,
            "≈ 1 GB",
            host="the authors' site (uoi.gr), 7-Zip",
            files=tuple(
                File(f"https://www.cs.uoi.gr/~marina/SIPAKMED/im_{c}.7z", f"im_{c}.7z", f"im_{c}")
                for c in (
                    "Dyskeratotic",
                    "Koilocytotic",
                    "Metaplastic",
                    "Parabasal",
                    "Superficial-Intermediate",
                )
            ),
        ),
        Entry(
            "mias",
            "mini-MIAS mammograms (322 images, 1024 × 1024 PGM)",
            "the Pilot European Image Processing Archive (PEIPA, University of Essex), where "
            "MIAS publishes the mini database",
            "http://peipa.essex.ac.uk/info/mias.html",
            "MIAS licence: research use only",
            "http://peipa.essex.ac.uk/info/mias.html",
            "Suckling, J. et al. The Mammographic Image Analysis Society Digital Mammogram "
            "Database. Exerpta Medica, International Congress Series 1069, 375-378 (1994)",
            False,
            "≈ 0.1 GB",
            host="PEIPA (University of Essex)",
            files=(
                File(
                    "http://peipa.essex.ac.uk/pix/mias/all-mias.tar.gz",
                    "all-mias.tar.gz",
                    "all-mias",
                ),
            ),
        ),
        Entry(
            "cdd-cesm",
            "CDD-CESM contrast-enhanced spectral mammography (2,006 images, 326 patients)",
            "The Cancer Imaging Archive (TCIA): the annotation workbook over HTTPS; the images "
            "only through TCIA's IBM Aspera (Faspex) link, given here with --archive",
            "https://www.cancerimagingarchive.net/collection/cdd-cesm/",
            "CC BY 4.0 (TCIA Data Usage Policy)",
            _CC_BY,
            "Khaled, R. et al. Categorized Digital Database for Low energy and Subtracted "
            "Contrast Enhanced Spectral Mammography images [Data set]. The Cancer Imaging "
            "Archive (2021). doi:10.7937/29kw-ae92; Khaled, R. et al. Categorized contrast "
            "enhanced mammography dataset for diagnostic and artificial intelligence research. "
            "Scientific Data 9, 122 (2022)",
            True,
            "≈ 4 GB",
            host="TCIA; images by Aspera, then --archive",
            files=(
                File(
                    "https://wiki.cancerimagingarchive.net/download/attachments/109379611/"
                    "Radiology%20manual%20annotations.xlsx?api=v2",
                    "Radiology manual annotations.xlsx",
                    archive=False,
                ),
            ),
            manual="the CDD-CESM images' zip (JPG), downloaded through the Aspera link on "
            "https://www.cancerimagingarchive.net/collection/cdd-cesm/",
        ),
        Entry(
            "medmnist",
            "MedMNIST v2 / MedMNIST+ 2D datasets (12 flags × 28, 64, 128, 224 px)",
            "Zenodo record 10519652, the URLs and MD5s of the medmnist package's INFO "
            "(MEDBENCH_MEDMNIST_MIRROR replaces their base)",
            "https://medmnist.com/",
            "CC BY 4.0 (DermaMNIST: CC BY-NC 4.0)",
            _CC_BY,
            "",  # MedMNIST's own, from benchmark.data.medmnist
            True,
            "up to ≈ 16 GB a file (by flag, size)",
            host="Zenodo, MD5-checked",
        ),
    )
}


def entry(name: str) -> Entry:
    """The catalogue's entry of ``name``; an unknown name is refused with the known ones."""
    if name not in CATALOGUE:
        raise DataError(
            f"no dataset '{name}' to fetch; the names are {', '.join(CATALOGUE)}."
            + suggest(name, CATALOGUE)
            + " (`medbench data fetch --list`)"
        )
    return CATALOGUE[name]
