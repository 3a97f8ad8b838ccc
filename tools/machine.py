"""The CPU a result was measured on, as the result files name it.

    cpu_name(lscpu_text)  'AMD EPYC (family 26)' from lscpu's output (a saved cpu.txt, say)
    this_cpu()            the same for this machine (platform.processor() where lscpu is missing)
"""
import platform
import re
import subprocess


def cpu_name(lscpu_text):
    """'AMD EPYC (family 26)' from lscpu's output."""
    model = re.search(r"^Model name:\s*(.+)$", lscpu_text, flags=re.M)
    family = re.search(r"^CPU family:\s*(\d+)$", lscpu_text, flags=re.M)
    name = model.group(1).strip() if model else "unknown CPU"
    return f"{name} (family {family.group(1)})" if family else name


def this_cpu():
    """cpu_name of this machine's lscpu."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    return cpu_name(text)
