"""Column layout of the NASA C-MAPSS text format (Saxena et al., PHM08), shared by training and device.

26 whitespace-separated numbers per row: unit, cycle, 3 operational settings, 21 sensors.
"""

SETTINGS = [f"setting_{i}" for i in range(1, 4)]
SENSORS = [f"s{i}" for i in range(1, 22)]
CMAPSS_COLUMNS = ["unit", "cycle", *SETTINGS, *SENSORS]
N_COLUMNS = len(CMAPSS_COLUMNS)  # 26
