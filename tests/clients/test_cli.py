"""The patchcore-client CLI end to end: teach a folder, add images, inspect files into overlays and a CSV,
list."""

import csv

import cv2
import pytest
from patchcore_client import InspectionClient
from patchcore_client.cli import main
from patchcore_client.cli_parser import build_parser

PRODUCT = "cli-part"


def test_teach_inspect_and_list(client_server, part_files, tmp_path, capsys):
    target = ["--target", client_server.target]

    assert (
        main([*target, "teach", "--product", PRODUCT, "--threshold-scale", "1.5", str(part_files.teach)]) == 0
    )
    assert f"{PRODUCT} version 1" in capsys.readouterr().out

    files = [*part_files.good, *part_files.defective]
    out = tmp_path / "out"
    assert main([*target, "inspect", "--product", PRODUCT, *map(str, files), "--out", str(out)]) == 0
    with open(out / "results.csv", newline="") as table:
        rows = list(csv.DictReader(table))
    assert [row["file"] for row in rows] == [str(path) for path in files]
    assert [row["verdict"] for row in rows] == ["good"] * len(part_files.good) + ["anomalous"] * 2
    assert all(float(row["threshold"]) > 0 and row["error"] == "" for row in rows)
    assert sorted(p.name for p in out.glob("*_overlay.png")) == sorted(f"{p.stem}_overlay.png" for p in files)

    capsys.readouterr()
    assert main([*target, "products"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["PRODUCT", "VERSION", "THRESHOLD"]
    [row] = [line.split() for line in table[1:] if line.split()[:2] == [PRODUCT, "1"]]
    assert row[-2:] == ["yes", "ready"]  # USABLE, STATUS


def test_inspect_of_an_unreadable_file_reports_the_error_and_fails(
    client_server, part_files, tmp_path, capsys
):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    target = ["--target", client_server.target]
    main([*target, "teach", "--product", "cli-errors", str(part_files.teach)])
    code = main([*target, "inspect", "--product", "cli-errors", str(broken), "--out", str(tmp_path / "out")])
    assert code == 1
    with open(tmp_path / "out" / "results.csv", newline="") as table:
        (row,) = csv.DictReader(table)
    assert row["verdict"] == "error" and row["error"].startswith("INVALID_ARGUMENT")
    assert (row["score"], row["threshold"]) == ("", "")  # not 0: no script may count it as a good part


def test_inspect_of_an_unknown_product_fails_once_before_any_frame(
    client_server, part_files, tmp_path, capsys
):
    out = tmp_path / "out"
    files = [str(path) for path in part_files.good]
    assert (
        main(
            [
                "--target",
                client_server.target,
                "inspect",
                "--product",
                "no-such-part",
                *files,
                "--out",
                str(out),
            ]
        )
        == 1
    )
    printed = capsys.readouterr().err
    assert printed.count("NOT_FOUND") == 1 and "no-such-part" in printed
    assert not (out / "results.csv").exists()


def test_add_images_teaches_the_files_given(client_server, part_files, capsys):
    target = ["--target", client_server.target]
    main([*target, "teach", "--product", "cli-grow", str(part_files.teach)])
    capsys.readouterr()
    assert main([*target, "add-images", "--product", "cli-grow", *map(str, part_files.good[:2])]) == 0
    assert "cli-grow version 2" in capsys.readouterr().out
    assert main([*target, "add-images", "--product", "cli-grow", "--expected-version", "1",
                 str(part_files.good[2])]) == 1  # fmt: skip
    assert "ABORTED" in capsys.readouterr().err
    main([*target, "products"])
    [row] = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("cli-grow")]
    assert row[1] == "2" and row[4] == "10"  # version, images


def test_a_defective_part_added_as_good_is_named(client_server, part_files, capsys):
    target = ["--target", client_server.target]
    main([*target, "teach", "--product", "cli-outlier", str(part_files.teach)])
    assert "warning" not in capsys.readouterr().err
    defective = part_files.defective[1]
    assert main([*target, "add-images", "--product", "cli-outlier", str(defective)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {defective.name} looks unlike")


def test_teach_sends_the_roi_tile_size_line_views_and_align(client_server, client, part_files, capsys):
    target = ["--target", client_server.target]
    args = ["teach", "--product", "cli-view", "--roi", "10,20,150,120", "--tile-size", "64", "--align"]
    assert main([*target, *args, "--line-views", "0", str(part_files.teach)]) == 0
    options = client.get_product("cli-view").teach_options
    assert (options.roi.x, options.roi.y, options.roi.width, options.roi.height) == (10, 20, 150, 120)
    assert options.tile_size == 64
    assert options.HasField("line_views") and options.line_views == 0
    assert options.align


def test_a_malformed_roi_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["teach", "--product", "p", "--roi", "10,20,150", "folder"])
    assert exit_.value.code == 2
    assert "X,Y,W,H" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["teach", "add-images", "inspect"])
def test_a_path_that_does_not_exist_is_named_without_a_traceback(command, tmp_path, capsys):
    """No server is needed: the paths are checked before anything is sent."""
    missing = tmp_path / "no-such-folder"
    extra = ["--out", str(tmp_path / "out")] if command == "inspect" else []
    assert main(["--target", "127.0.0.1:1", command, "--product", "p", str(missing), *extra]) == 1
    assert capsys.readouterr().err.strip() == f"error: no such file or folder: {missing}"


@pytest.mark.parametrize("wait", [[], ["--wait", "0.2"]])
def test_health_of_a_server_that_is_not_there_says_so_and_fails(wait, capsys):
    assert main(["--target", "127.0.0.1:1", "health", *wait]) == 1
    assert capsys.readouterr().err.startswith("error: no answer from 127.0.0.1:1")


def test_help_shows_defaults_only_where_there_are_some():
    text = build_parser().format_help()
    assert "(default: 127.0.0.1:50051)" in text
    assert "(default: None)" not in text


@pytest.mark.parametrize("command", ["teach", "add-images", "inspect", "products", "health"])
def test_each_command_help_says_what_it_does_and_what_each_option_means(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    usage, _, rest = text.partition("\n\n")
    assert usage.startswith(f"usage: patchcore-client {command}")
    assert not rest.startswith(("positional arguments:", "options:"))  # a description comes first
    assert "server default" not in text  # "0 = server default" alone did not say what an option sets


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("teach", "--tile-size", "-1"),
        ("teach", "--tile-size", "5000000000"),
        ("teach", "--top-k", "-1"),
        ("teach", "--top-k", "4294967296"),
        ("teach", "--line-views", "-1"),
        ("teach", "--line-views", "4294967296"),
        ("add-images", "--expected-version", "-1"),
        ("add-images", "--expected-version", str(2**64)),
    ],
)
def test_an_integer_its_field_cannot_carry_is_a_usage_error(command, option, value, part_files, capsys):
    """The protobuf field (uint32; uint64 for a version) cannot hold it: no traceback from building the
    message, and the server's own ranges are left to the server."""
    with pytest.raises(SystemExit) as exit_:
        main(["--target", "127.0.0.1:1", command, "--product", "p", option, value, str(part_files.teach)])
    assert exit_.value.code == 2
    largest = 2**64 - 1 if option == "--expected-version" else 2**32 - 1
    message = f"argument {option}: must be a whole number from 0 to {largest}, got {value!r}"
    assert message in capsys.readouterr().err


def test_an_roi_its_fields_cannot_carry_is_a_usage_error(part_files, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--target", "127.0.0.1:1", "teach", "--product", "p", "--roi", "0,0,4294967296,100",
              str(part_files.teach)])  # fmt: skip
    assert exit_.value.code == 2
    assert "X,Y,W,H" in capsys.readouterr().err


def test_an_roi_that_starts_with_a_minus_gets_a_hint_at_the_equals_form(capsys):
    """argparse takes "-5,0,100,100" for an option, not a value: the error says how to give it."""
    with pytest.raises(SystemExit) as exit_:
        main(["teach", "--product", "p", "--roi", "-5,0,100,100", "folder"])
    assert exit_.value.code == 2
    assert "--roi=" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exit_:
        main(["teach", "--product", "p", "--roi=-5,0,100,100", "folder"])
    assert exit_.value.code == 2
    assert "'-5,0,100,100'" in capsys.readouterr().err


def test_teach_add_images_and_products_show_the_roi_tile_size_and_align(client_server, part_files, capsys):
    target = ["--target", client_server.target]
    options = ["--roi", "10,20,150,120", "--tile-size", "64", "--align", "--line-views", "0"]
    assert main([*target, "teach", "--product", "cli-shown", *options, str(part_files.teach)]) == 0
    assert "taught with --roi 10,20,150,120 --tile-size 64 --align" in capsys.readouterr().out.splitlines()
    assert main([*target, "add-images", "--product", "cli-shown", str(part_files.good[0])]) == 0
    assert "taught with --roi 10,20,150,120 --tile-size 64 --align" in capsys.readouterr().out.splitlines()

    assert main([*target, "products", "--verbose"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert "TEACH OPTIONS" in header
    [row] = [row for row in rows if row.startswith("cli-shown ")]
    assert "--line-views 0 --roi 10,20,150,120 --tile-size 64 --align" in row
    assert "--coreset-ratio" in row and "--threshold-scale" in row  # the server's defaults, as used


def test_teach_without_roi_tiles_or_align_says_nothing_of_them(client_server, part_files, capsys):
    target = ["--target", client_server.target]
    assert main([*target, "teach", "--product", "cli-plain", str(part_files.teach)]) == 0
    assert "taught with" not in capsys.readouterr().out


def test_files_of_one_name_each_keep_their_overlay(client_server, part_files, tmp_path):
    """part.png in two folders and part.jpg: three frames, three overlays, none written over another; a name
    that is not repeated keeps its plain overlay name."""
    target = ["--target", client_server.target]
    main([*target, "teach", "--product", "cli-same-names", str(part_files.teach)])
    for folder, source in (("a", part_files.good[0]), ("b", part_files.defective[0])):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "part.png").write_bytes(source.read_bytes())
    cv2.imwrite(str(tmp_path / "part.jpg"), cv2.imread(str(part_files.defective[1])))
    files = [tmp_path / "a" / "part.png", tmp_path / "b" / "part.png", tmp_path / "part.jpg"]
    files.append(part_files.good[1])
    out = tmp_path / "out"
    assert main([*target, "inspect", "--product", "cli-same-names", *map(str, files), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.glob("*_overlay.png"))
    assert names == sorted(["part_0_overlay.png", "part_1_overlay.png", "part_2_overlay.png",
                            f"{part_files.good[1].stem}_overlay.png"])  # fmt: skip
    assert (out / "part_0_overlay.png").read_bytes() != (out / "part_1_overlay.png").read_bytes()


def test_a_teach_or_added_image_the_server_refuses_is_named_by_its_file(
    client_server, part_files, tmp_path, capsys
):
    """The server counts a call's images from 1; the CLI, which sent them, adds each one's file."""
    target = ["--target", client_server.target]
    folder = tmp_path / "teach"
    folder.mkdir()
    for path in sorted(part_files.teach.iterdir()):
        (folder / path.name).write_bytes(path.read_bytes())
    broken = folder / "zz_broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not the rest of a png")
    assert main([*target, "teach", "--product", "cli-broken", str(folder)]) == 1
    assert f"INVALID_ARGUMENT: teach image 9 ({broken}): " in capsys.readouterr().err

    broken.unlink()
    assert main([*target, "teach", "--product", "cli-broken", str(folder)]) == 0
    capsys.readouterr()
    added = [str(part_files.good[0]), str(tmp_path / "other.png")]
    (tmp_path / "other.png").write_bytes(b"not an image")
    assert main([*target, "add-images", "--product", "cli-broken", *added]) == 1
    assert f"INVALID_ARGUMENT: added image 2 ({added[1]}): " in capsys.readouterr().err


def test_a_teach_over_the_message_limit_says_which_flag_raises_it(client_server, part_files, capsys):
    """A teach sends all its images in one message: over the limit, the CLI names the flag that raises it and
    the other way out; with the limit raised the same images are taught."""
    target = ["--target", client_server.target]
    teach = ["teach", "--product", "cli-large", str(part_files.teach)]
    files_bytes = sum(path.stat().st_size for path in part_files.teach.iterdir())

    assert main([*target, "--max-message-bytes", str(files_bytes // 2), *teach]) == 1
    printed = capsys.readouterr().err
    assert "RESOURCE_EXHAUSTED" in printed and "--max-message-bytes" in printed and "add-images" in printed

    assert main([*target, "--max-message-bytes", str(2 * files_bytes), *teach]) == 0
    assert "cli-large version 1" in capsys.readouterr().out


def test_ctrl_c_during_a_teach_ends_the_command_with_a_line_not_a_traceback(
    client_server, part_files, monkeypatch, capsys
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(InspectionClient, "teach", interrupted)

    code = main(["--target", client_server.target, "teach", "--product", "cli-ctrl-c", str(part_files.teach)])

    assert code == 130
    assert capsys.readouterr().err.splitlines()[-1] == "interrupted: teach was cancelled"
