using System.Globalization;
using System.Text.RegularExpressions;
using Grpc.Core;
using PatchcoreEdge.V1;

namespace PatchcoreEdge.Examples;

/// <summary>What the reader task saw.</summary>
public sealed record Tally(ulong Received, ulong Failed, bool InOrder);

/// <summary>Prints the one-line-per-frame results, in the same format as the C++ examples.</summary>
public static class ResultPrinter
{
    /// <summary>Reads results until the server ends the stream, printing each as it arrives.</summary>
    public static async Task<Tally> PrintAllAsync(IAsyncStreamReader<InspectResponse> results)
    {
        ulong received = 0, failed = 0;
        var inOrder = true;
        await foreach (var response in results.ReadAllAsync())
        {
            Console.WriteLine(Format(response));
            inOrder &= response.FrameId == received;
            failed += response.Error is null ? 0UL : 1UL;
            received++;
        }
        return new Tally(received, failed, inOrder);
    }

    /// <summary>"&lt;frame_id&gt; &lt;score&gt; OK|NG", or for a frame the server could not score
    /// "&lt;frame_id&gt; - ERROR &lt;CODE&gt;: &lt;message&gt;". OK = like the taught good parts,
    /// NG = anomalous.</summary>
    public static string Format(InspectResponse response)
    {
        if (response.Error is not null)
        {
            var code = CodeName((StatusCode)response.Error.Code);
            return $"{response.FrameId} - ERROR {code}: {response.Error.Message}";
        }
        var score = response.Score.ToString("F6", CultureInfo.InvariantCulture);
        return $"{response.FrameId} {score} {(response.Anomalous ? "NG" : "OK")}";
    }

    /// <summary>StatusCode.InvalidArgument -> "INVALID_ARGUMENT", as gRPC documents the codes.</summary>
    public static string CodeName(StatusCode code) =>
        Regex.Replace(code.ToString(), "(?<=[a-z])([A-Z])", "_$1").ToUpperInvariant();
}
