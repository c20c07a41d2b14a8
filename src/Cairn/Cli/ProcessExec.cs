using System.Runtime.InteropServices;
using System.Text;

namespace Cairn.Cli;

/// <summary>
/// Replaces this process with a program (execve): same process id, the given arguments, this environment plus the
/// given variables. Used by the server to re-execute itself with its runtime settings (<see cref="ServeEnvironment"/>),
/// and by the native CLI to become the server.
/// </summary>
internal static partial class ProcessExec
{
    /// <summary>Returns only when the exec failed, with errno.</summary>
    public static int Replace(string program, IReadOnlyList<string> argv, IReadOnlyList<(string Name, string Value)> variables)
    {
        var env = new List<string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables()) env.Add($"{e.Key}={e.Value}");
        foreach (var (name, value) in variables) env.Add($"{name}={value}");
        var args = ToNative(argv);
        var envp = ToNative(env);
        try
        {
            Execve(program, args, envp);
            return Marshal.GetLastPInvokeError();
        }
        finally
        {
            foreach (var p in args) Marshal.FreeCoTaskMem(p);
            foreach (var p in envp) Marshal.FreeCoTaskMem(p);
        }
    }

    // NUL-terminated UTF-8 strings and a terminating null pointer, as execve wants them.
    private static nint[] ToNative(IReadOnlyList<string> items)
    {
        var result = new nint[items.Count + 1];
        for (int i = 0; i < items.Count; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(items[i] + "\0");
            result[i] = Marshal.AllocCoTaskMem(bytes.Length);
            Marshal.Copy(bytes, 0, result[i], bytes.Length);
        }
        return result;
    }

    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Execve(string path, nint[] argv, nint[] envp);
}
