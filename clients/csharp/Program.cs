// Streams image files to InspectStream on one call and prints one line per frame as the results arrive.
//
// The main task writes frame after frame while a reader task prints the results, as a line program does with
// a camera feeding one side and the PLC reading the other. The server answers every frame in order; a frame
// it cannot score comes back with its own error and the stream goes on.
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using PatchcoreEdge.Examples;
using PatchcoreEdge.V1;

const int ExitOk = 0;
const int ExitFailed = 1;  // a frame failed, or the call did not finish OK
const int ExitUsage = 2;   // bad command line or unreadable file
const int MaxReceiveBytes = 64 * 1024 * 1024;  // the server's default message cap

CommandLine commandLine;
try
{
    commandLine = CommandLine.Parse(args);
}
catch (ArgumentException error)
{
    Console.Error.WriteLine($"error: {error.Message}\n\n{CommandLine.Usage}");
    return ExitUsage;
}
if (commandLine.Help)
{
    Console.Write(CommandLine.Usage);
    return ExitOk;
}

using var channel = GrpcChannel.ForAddress(
    "http://" + commandLine.Target, new GrpcChannelOptions { MaxReceiveMessageSize = MaxReceiveBytes });
var client = new InspectionService.InspectionServiceClient(channel);
DateTime? deadline = commandLine.DeadlineMs > 0 ? DateTime.UtcNow.AddMilliseconds(commandLine.DeadlineMs) : null;
using var call = client.InspectStream(deadline: deadline);

var reader = Task.Run(() => ResultPrinter.PrintAllAsync(call.ResponseStream));
ulong sent = 0;
string? inputError = null;
try
{
    for (; sent < (ulong)commandLine.Files.Count; sent++)
    {
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(commandLine.Files[(int)sent]);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            inputError = error.Message;
            break;
        }
        await call.RequestStream.WriteAsync(new InspectRequest
        {
            ProductId = commandLine.Product,
            FrameId = sent,
            Image = new Image { Encoded = ByteString.CopyFrom(bytes) },
        });
    }
    await call.RequestStream.CompleteAsync();
    var tally = await reader;

    if (inputError is not null)
    {
        Console.Error.WriteLine($"error: {inputError} (stopped after {sent} frames)");
        return ExitUsage;
    }
    if (tally.Received != sent || !tally.InOrder)
    {
        Console.Error.WriteLine($"error: sent {sent} frames, got {tally.Received} results" +
                                (tally.InOrder ? "" : " out of order"));
        return ExitFailed;
    }
    Console.Error.WriteLine($"{sent} frames, {tally.Failed} failed");
    return tally.Failed == 0 ? ExitOk : ExitFailed;
}
catch (RpcException error)
{
    Console.Error.WriteLine($"error: the stream ended with {ResultPrinter.CodeName(error.StatusCode)}: " +
                            error.Status.Detail);
    return ExitFailed;
}
