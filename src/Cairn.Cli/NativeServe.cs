using System.CommandLine;

namespace Cairn.Cli;

/// <summary>
/// <c>serve</c> in the native CLI: the server is the managed program (ASP.NET Core, the engines), so the native
/// binary replaces itself with it, same arguments (help included), same process id, before parsing anything. It is
/// found at <c>$CAIRN_SERVER_PROGRAM</c>, else where the repository's Release build puts it
/// (<c>src/Cairn/bin/Release/net10.0/cairn</c>, relative to this binary in <c>src/Cairn.Cli/bin/native</c>). The
/// server's runtime variables (<see cref="ServeEnvironment"/>) are set here, saving the server its own re-exec.
/// </summary>
internal static partial class CairnCli
{
    /// <summary>Becomes the server; returns only when it could not.</summary>
    public static int Serve(string[] args)
    {
        var program = Environment.GetEnvironmentVariable("CAIRN_SERVER_PROGRAM")
            ?? Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "Cairn", "bin", "Release", "net10.0", "cairn"));
        if (!File.Exists(program))
        {
            Console.Error.WriteLine($"error: the server program {program} does not exist: build it (dotnet build -c Release src/Cairn) or set CAIRN_SERVER_PROGRAM");
            return ExitCodes.Error;
        }
        var errno = ProcessExec.Replace(program, [program, .. args], ServeEnvironment.Missing());
        Console.Error.WriteLine($"error: could not start {program} (errno {errno})");
        return ExitCodes.Error;
    }

    // Listed in the native CLI's help; never run (Program hands serve to the server before parsing).
    private static partial Command Serve() => new("serve", "Run the server: all HTTP APIs and the iSCSI target (see cairn serve --help)");
}
