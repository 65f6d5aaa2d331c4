namespace PatchcoreEdge.Examples;

/// <summary>The parsed command line: `--name value` or `--name=value` flags; the other arguments are
/// the files.</summary>
public sealed class CommandLine
{
    public const string Usage =
        "usage: inspect_stream [--target HOST:PORT] --product ID [--deadline-ms N] FILE...\n" +
        "\n" +
        "Sends each FILE (JPEG/PNG/BMP/TIFF bytes) as one frame of a single InspectStream call, frame_id = its\n" +
        "index (0, 1, ...), and prints one line per frame as the result arrives:\n" +
        "  <frame_id> <score> OK|NG            OK = like the taught good parts, NG = anomalous\n" +
        "  <frame_id> - ERROR <CODE>: <message>  the server could not score this frame\n" +
        "\n" +
        "  --target       server address (default 127.0.0.1:50051)\n" +
        "  --product      product to inspect against\n" +
        "  --deadline-ms  time for the whole call in milliseconds (default 0 = none)\n" +
        "\n" +
        "Exit status: 0 every frame scored (OK or NG), 1 a frame failed or the call did not finish OK,\n" +
        "2 bad command line or unreadable file.\n";

    public string Target { get; private init; } = "127.0.0.1:50051";
    public string Product { get; private init; } = "";
    /// <summary>Time for the whole call in milliseconds; 0 = no deadline.</summary>
    public ulong DeadlineMs { get; private init; }
    public IReadOnlyList<string> Files { get; private init; } = Array.Empty<string>();
    public bool Help { get; private init; }

    /// <summary>Throws ArgumentException with a message for the user on a mistake.</summary>
    public static CommandLine Parse(string[] args)
    {
        var flags = new Dictionary<string, string>();
        var files = new List<string>();
        var help = false;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg is "--help" or "-h")
            {
                help = true;
                continue;
            }
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                files.Add(arg);
                continue;
            }
            var name = arg[2..];
            string value;
            var equals = name.IndexOf('=');
            if (equals >= 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }
            else if (i + 1 < args.Length)
            {
                value = args[++i];
            }
            else
            {
                throw new ArgumentException($"--{name} needs a value");
            }
            if (name is not ("target" or "product" or "deadline-ms"))
            {
                throw new ArgumentException($"unknown option --{name}");
            }
            flags[name] = value;
        }
        if (help)
        {
            return new CommandLine { Help = true };
        }
        if (!flags.TryGetValue("product", out var product) || product.Length == 0)
        {
            throw new ArgumentException("--product is required");
        }
        if (files.Count == 0)
        {
            throw new ArgumentException("no input file given");
        }
        ulong deadlineMs = 0;
        if (flags.TryGetValue("deadline-ms", out var deadline) && !ulong.TryParse(deadline, out deadlineMs))
        {
            throw new ArgumentException($"--deadline-ms must be a non-negative whole number, got '{deadline}'");
        }
        return new CommandLine
        {
            Target = flags.GetValueOrDefault("target", "127.0.0.1:50051"),
            Product = product,
            DeadlineMs = deadlineMs,
            Files = files,
        };
    }
}
