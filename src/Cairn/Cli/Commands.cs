using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json.Serialization.Metadata;
using Cairn.Contracts;
using Cairn.Core;
using Cairn.Core.Storage;
using Cairn.Core.Transfer;

namespace Cairn.Cli;

/// <summary>The client commands: each talks to the server's admin API.</summary>
internal static class Commands
{
    private static string Bool(bool b) => b ? "true" : "false";

    // Added to every client command group (recursively), not to the root: serve takes neither.
    public static readonly Option<string?> Server = new("--server")
    {
        HelpName = "URL|unix:SOCKET",
        Description = "Server to talk to (default $CAIRN_SERVER, else a local server's socket, else http://127.0.0.1:8776)",
        Recursive = true,
    };

    public static readonly Option<bool> JsonOut = new("--json") { Description = "Print the result as JSON (one document on stdout) instead of a table", Recursive = true };

    /// <summary>Wraps an action: one <c>error:</c> line and an exit code from <see cref="ExitCodes"/> on any failure.</summary>
    public static void Handle(this Command cmd, Func<ParseResult, ApiClient, CancellationToken, Task> action) =>
        cmd.SetAction(async (pr, ct) =>
        {
            try
            {
                using var api = new ApiClient(pr.GetValue(Server));
                await action(pr, api, ct);
                return ExitCodes.Ok;
            }
            catch (CliError e)
            {
                return await Fail(e.Message, e.ExitCode);
            }
            catch (CairnException e)
            {
                return await Fail(e.Message, e.Kind switch
                {
                    ErrorKind.InvalidArgument => ExitCodes.Usage,
                    ErrorKind.NotFound => ExitCodes.NotFound,
                    _ => ExitCodes.Error,
                });
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return await Fail(e.Message, ExitCodes.Error);
            }
        });

    private static async Task<int> Fail(string message, int code)
    {
        // A progress bar may be on the line: start a fresh one.
        if (Progress.Enabled) await Console.Error.WriteAsync("\r\x1b[K");
        await Console.Error.WriteLineAsync("error: " + message);
        return code;
    }

    private static long ParseSize(string text) => Sizes.Parse(text);

    public static bool JsonWanted(this ParseResult pr) => pr.GetValue(JsonOut);

    public static Command Volume()
    {
        var volume = new Command("volume", "Create, list, import, export, resize, rename, roll back, promote and destroy volumes");
        var name = new Argument<string>("NAME") { Description = "Volume name, pool/a/b" };
        var size = new Option<string>("--size", "-s") { HelpName = "SIZE", Description = "Size in bytes or binary units (10G, 512M), a multiple of 512", Required = true };
        var parents = new Option<bool>("--parents", "-p") { Description = "Create missing parent folders" };

        var create = new Command("create", "Create a thin volume") { name, size, parents };
        create.Handle(async (pr, api, ct) =>
        {
            var body = new CreateVolumeRequest(pr.GetValue(name), Fields.Size(ParseSize(pr.GetValue(size)!)), pr.GetValue(parents));
            Show(pr, await api.PostAsync("cairn/v1/volumes", body, Json.CreateVolumeRequest, Json.VolumeDto, ct));
        });

        var file = new Argument<string>("FILE") { Description = "Raw image file" };
        var sync = new Option<bool>("--sync") { Description = "Return only once the image is on stable storage (default: once it survives a crash of the server; stable storage follows in the background)" };
        var force = new Option<bool>("--force", "-f") { Description = "Replace the data of an existing volume (refused while a target exporting it has live sessions)" };
        var import = new Command("import", "Import a raw image into a volume (created sized to the file if absent); zero blocks are not stored") { name, file, parents, sync, force };
        import.Handle(async (pr, api, ct) =>
        {
            var path = pr.GetValue(file)!;
            if (!File.Exists(path)) throw new CliError($"file {path} does not exist", ExitCodes.NotFound);
            var total = new FileInfo(path).Length;
            var url = $"cairn/v1/volume-data/{ApiClient.Path(pr.GetValue(name)!)}?parents={Bool(pr.GetValue(parents))}&sync={Bool(pr.GetValue(sync))}&force={Bool(pr.GetValue(force))}";
            var progress = new Progress("import " + Path.GetFileName(path));
            ImportAnswer n;
            if (api.SocketPath is not null)
            {
                // A local server reads the file itself: no copy through a socket, and no progress to show but the time.
                using var ticker = Progress.Tick(() => progress.Update(null, Sizes.Format(total)));
                n = await api.PutAsync(url, new LocalFileImport(Path.GetFullPath(path)), Json.LocalFileImport, Json.ImportAnswer, SparseStream.LocalFileMediaType, ct);
            }
            else
            {
                using var req = new HttpRequestMessage(HttpMethod.Put, url)
                {
                    Content = new StreamingContent((s, c) => ImageFiles.EncodeAsync(path, s, pos => progress.Update(total == 0 ? 1 : (double)pos / total), c), SparseStream.MediaType).Typed(),
                };
                // A refusal (the volume exists, or is in use) comes before the image is sent, not after all of it.
                req.Headers.ExpectContinue = true;
                using var resp = await api.SendRawAsync(req, HttpCompletionOption.ResponseContentRead, ct);
                n = ApiClient.Read(await resp.Content.ReadAsStringAsync(ct), Json.ImportAnswer);
            }
            progress.Done(n.ImageSize);
            if (pr.JsonWanted()) { Output.Json(n, Json.ImportAnswer); return; }
            Output.Fields(("volume", n.Volume.Name), ("file", path), ("image_size", Output.Size(n.ImageSize)), ("written", Output.Size(n.Written)),
                ("created", Bool(n.Created)), ("synced", Bool(n.Synced)));
        });

        var source = new Argument<string>("NAME") { Description = "Volume name, or NAME@SNAP for a snapshot" };
        var outFile = new Argument<string>("FILE") { Description = "Raw image file to write (replaced when it exists)" };
        var export = new Command("export", "Export a volume or snapshot (NAME@SNAP) to a raw file; holes stay holes") { source, outFile };
        export.Handle(async (pr, api, ct) =>
        {
            var path = pr.GetValue(outFile)!;
            var progress = new Progress("export " + pr.GetValue(source));
            using var req = new HttpRequestMessage(HttpMethod.Get, $"cairn/v1/volume-data/{ApiClient.Path(pr.GetValue(source)!)}");
            req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(SparseStream.MediaType));
            using var resp = await api.SendRawAsync(req, HttpCompletionOption.ResponseHeadersRead, ct);
            await using var body = await resp.Content.ReadAsStreamAsync(ct);
            var (sz, written) = await ImageFiles.DecodeAsync(body, path, (pos, total) => progress.Update(total == 0 ? 1 : (double)pos / total), ct);
            progress.Done(sz);
            var answer = new ExportedImage(pr.GetValue(source)!, path, sz, written);
            if (pr.JsonWanted()) { Output.Json(answer, CliJsonContext.Default.ExportedImage); return; }
            Output.Fields(("volume", answer.Volume), ("file", path), ("size", Output.Size(sz)), ("written", Output.Size(written)));
        });

        var root = new Argument<string?>("ROOT") { Description = "Only this dataset and what is under it", Arity = ArgumentArity.ZeroOrOne };
        var list = new Command("list", "List volumes and folders") { root };
        list.Handle(async (pr, api, ct) =>
        {
            var n = await ListAsync(api, pr.GetValue(root), ct);
            if (pr.JsonWanted()) { Output.Json(n, Json.VolumeDtoArray); return; }
            Output.Table(["NAME", "TYPE", "SIZE", "USED", "REFER", "ORIGIN", "STATUS"],
                n.Select(v => new[] { v.Name, v.Type, v.Type == "folder" ? "-" : Output.Size(v.Size),
                    Output.Size(v.Used), Output.Size(v.Referenced), Output.Str(v.Origin), v.Status }));
        });

        var show = new Command("show", "Show one volume") { name };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync($"cairn/v1/volumes/{ApiClient.Path(pr.GetValue(name)!)}", Json.VolumeDto, ct)));

        var resize = new Command("resize", "Grow a volume") { name, size };
        resize.Handle(async (pr, api, ct) => Show(pr, await api.PatchAsync($"cairn/v1/volumes/{ApiClient.Path(pr.GetValue(name)!)}",
            new ResizeRequest(Fields.Size(ParseSize(pr.GetValue(size)!))), Json.ResizeRequest, Json.VolumeDto, ct)));

        var recursive = new Option<bool>("--recursive", "-r") { Description = "Also destroy its own snapshots (never other volumes' clones)" };
        var destroy = new Command("destroy", "Destroy a volume (or a folder: see 'cairn folder destroy')") { name, recursive };
        destroy.Handle((pr, api, ct) => DestroyAsync(pr, api, pr.GetValue(name)!, pr.GetValue(recursive), ct));

        volume.Subcommands.Add(create);
        volume.Subcommands.Add(import);
        volume.Subcommands.Add(export);
        volume.Subcommands.Add(list);
        volume.Subcommands.Add(show);
        volume.Subcommands.Add(resize);
        volume.Subcommands.Add(destroy);
        ManageCommands.AddTo(volume);
        return volume;
    }

    private static Task<VolumeDto[]> ListAsync(ApiClient api, string? root, CancellationToken ct) =>
        api.GetAsync("cairn/v1/volumes" + (root is null ? "" : "?root=" + Uri.EscapeDataString(root)), Json.VolumeDtoArray, ct);

    private static async Task DestroyAsync(ParseResult pr, ApiClient api, string name, bool recursive, CancellationToken ct)
    {
        await api.DeleteAsync($"cairn/v1/volumes/{ApiClient.Path(name)}?recursive={Bool(recursive)}", ct);
        Destroyed(pr, name);
    }

    /// <summary>What a destroy prints: the call answers with no body, so the name it destroyed.</summary>
    internal static void Destroyed(ParseResult pr, string name)
    {
        if (pr.JsonWanted()) Output.Json(new DestroyedAnswer(name), CliJsonContext.Default.DestroyedAnswer);
        else Output.Fields(("destroyed", name));
    }

    public static Command Folder()
    {
        var folder = new Command("folder", "Create, list and destroy folders, which group volumes (like ZFS filesystems used as namespaces)");
        var name = new Argument<string>("NAME") { Description = "Folder name, pool/a/b" };
        var parents = new Option<bool>("--parents", "-p") { Description = "Create missing parent folders" };
        var create = new Command("create", "Create a folder") { name, parents };
        create.Handle(async (pr, api, ct) => Show(pr, await api.PostAsync("cairn/v1/folders",
            new CreateFolderRequest(pr.GetValue(name), pr.GetValue(parents)), Json.CreateFolderRequest, Json.VolumeDto, ct)));

        var root = new Argument<string?>("ROOT") { Description = "Only this folder and the folders under it", Arity = ArgumentArity.ZeroOrOne };
        var list = new Command("list", "List folders") { root };
        list.Handle(async (pr, api, ct) =>
        {
            var all = await ListAsync(api, pr.GetValue(root), ct);
            var n = all.Where(v => v.Type == "folder").ToArray();
            if (pr.JsonWanted()) { Output.Json(n, Json.VolumeDtoArray); return; }
            Output.Table(["NAME", "VOLUMES", "USED", "CREATED"], n.Select(f => new[]
            {
                f.Name,
                all.Count(v => v.Type == "volume" && v.Name.StartsWith(f.Name + "/", StringComparison.Ordinal)).ToString(CultureInfo.InvariantCulture),
                Output.Size(f.Used), Output.Time(f.Created),
            }));
        });

        var recursive = new Option<bool>("--recursive", "-r") { Description = "Also destroy everything in it: folders, volumes and their snapshots (refused if another volume's clone depends on one)" };
        var destroy = new Command("destroy", "Destroy a folder (refused while it is not empty, unless --recursive)") { name, recursive };
        destroy.Handle(async (pr, api, ct) =>
        {
            var n = pr.GetValue(name)!;
            // The API destroys volumes and folders alike: a volume named here by mistake stays.
            var v = await api.GetAsync($"cairn/v1/volumes/{ApiClient.Path(n)}", Json.VolumeDto, ct);
            if (v.Type != "folder") throw new CliError($"{n} is a {v.Type}, not a folder; use 'cairn volume destroy'", ExitCodes.Usage);
            await DestroyAsync(pr, api, n, pr.GetValue(recursive), ct);
        });
        folder.Subcommands.Add(create);
        folder.Subcommands.Add(list);
        folder.Subcommands.Add(destroy);
        ManageCommands.AddTo(folder, "folder");
        return folder;
    }

    public static Command Snapshot()
    {
        var snapshot = new Command("snapshot", "Create, list, show, rename and destroy snapshots");
        var snap = new Argument<string>("NAME@SNAP") { Description = "Snapshot name: the volume's name, @, the snapshot's" };
        var create = new Command("create", "Take a read-only snapshot") { snap };
        create.Handle(async (pr, api, ct) =>
            Show(pr, await api.PostAsync("cairn/v1/snapshots", new CreateSnapshotRequest(pr.GetValue(snap)), Json.CreateSnapshotRequest, Json.SnapshotDto, ct)));
        var volume = new Argument<string?>("NAME") { Arity = ArgumentArity.ZeroOrOne, Description = "Only this volume's snapshots" };
        var list = new Command("list", "List snapshots") { volume };
        list.Handle(async (pr, api, ct) =>
        {
            var v = pr.GetValue(volume);
            var n = await api.GetAsync("cairn/v1/snapshots" + (v is null ? "" : "?volume=" + Uri.EscapeDataString(v)), Json.SnapshotDtoArray, ct);
            if (pr.JsonWanted()) { Output.Json(n, Json.SnapshotDtoArray); return; }
            Output.Table(["NAME", "USED", "REFER", "CLONES", "CREATED"],
                n.Select(s => new[] { s.Name, Output.Size(s.Used), Output.Size(s.Referenced),
                    s.Clones.Count.ToString(CultureInfo.InvariantCulture), Output.Time(s.Created) }));
        });
        var show = new Command("show", "Show one snapshot") { snap };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync($"cairn/v1/snapshots/{ApiClient.Path(pr.GetValue(snap)!)}", Json.SnapshotDto, ct)));
        var destroy = new Command("destroy", "Destroy a snapshot (refused while it has clones)") { snap };
        destroy.Handle(async (pr, api, ct) =>
        {
            await api.DeleteAsync($"cairn/v1/snapshots/{ApiClient.Path(pr.GetValue(snap)!)}", ct);
            Destroyed(pr, pr.GetValue(snap)!);
        });
        snapshot.Subcommands.Add(create);
        snapshot.Subcommands.Add(list);
        snapshot.Subcommands.Add(show);
        snapshot.Subcommands.Add(destroy);
        ManageCommands.AddToSnapshot(snapshot);
        return snapshot;
    }

    public static Command Clone()
    {
        var src = new Argument<string>("SRC@SNAP") { Description = "Snapshot to clone" };
        var dst = new Argument<string>("DST") { Description = "Name of the new volume, pool/a/b" };
        var parents = new Option<bool>("--parents", "-p") { Description = "Create missing parent folders" };
        var clone = new Command("clone", "Make a writable copy-on-write clone of a snapshot") { src, dst, parents };
        clone.Handle(async (pr, api, ct) => Show(pr, await api.PostAsync("cairn/v1/clones",
            new CloneRequest(pr.GetValue(src), pr.GetValue(dst), pr.GetValue(parents)), Json.CloneRequest, Json.VolumeDto, ct)));
        return clone;
    }

    public static Command Pool()
    {
        var pool = new Command("pool", "Create, list and show pools (each backed by one engine)");
        var name = new Argument<string>("NAME") { Description = "Pool name (one component; for zfs, the existing zpool's name)" };
        var engine = new Option<string>("--engine", "-e") { HelpName = "embedded|zfs", Description = "Engine: embedded (default) or zfs (adopts the existing zpool NAME)", DefaultValueFactory = _ => "embedded" };

        var create = new Command("create", "Create a pool (zfs: adopt the zpool of that name)") { name, engine };
        create.Handle(async (pr, api, ct) =>
            Show(pr, await api.PostAsync("cairn/v1/pools", new CreatePoolRequest(pr.GetValue(name), pr.GetValue(engine)), Json.CreatePoolRequest, Json.PoolDto, ct)));

        var list = new Command("list", "List pools with their engine and space");
        list.Handle(async (pr, api, ct) =>
        {
            var n = await api.GetAsync("cairn/v1/pools", Json.PoolDtoArray, ct);
            if (pr.JsonWanted()) { Output.Json(n, Json.PoolDtoArray); return; }
            // VOLUMES and FOLDERS count the rows `volume list POOL` shows (the pool's own folder row among them).
            Output.Table(["NAME", "ENGINE", "HEALTH", "SIZE", "ALLOC", "FREE", "VOLUMES", "FOLDERS", "SNAPSHOTS"],
                n.Select(p => new[]
                {
                    p.Name, p.Engine, p.Health, Output.Size(p.Size), Output.Size(p.Allocated),
                    Output.Size(p.Free), Output.Str(p.Volumes), Output.Str(p.Folders), Output.Str(p.Snapshots),
                }));
        });

        var show = new Command("show", "Show one pool") { name };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync("cairn/v1/pools/" + Uri.EscapeDataString(pr.GetValue(name)!), Json.PoolDto, ct)));

        pool.Subcommands.Add(create);
        pool.Subcommands.Add(list);
        pool.Subcommands.Add(show);
        return pool;
    }

    /// <summary>The contracts' JSON metadata (source-generated).</summary>
    internal static CairnJsonContext Json => CairnJsonContext.Default;

    /// <summary>One answer: JSON with <c>--json</c>, else <paramref name="fields"/> as aligned lines.</summary>
    internal static void Show<T>(ParseResult pr, T value, JsonTypeInfo<T> type, Func<T, (string, string)[]> fields)
    {
        if (pr.JsonWanted()) Output.Json(value, type);
        else Output.Fields(fields(value));
    }

    internal static void Show(ParseResult pr, VolumeDto v) => Show(pr, v, Json.VolumeDto, v => [
        ("name", v.Name), ("type", v.Type), ("size", v.Type == "folder" ? "-" : Output.Size(v.Size)), ("used", Output.Size(v.Used)),
        ("referenced", Output.Size(v.Referenced)), ("origin", Output.Str(v.Origin)), ("status", v.Status), ("project", Output.Str(v.Project)),
        ("created", Output.Time(v.Created)), ("id", v.Id.ToString()),
    ]);

    internal static void Show(ParseResult pr, SnapshotDto s) => Show(pr, s, Json.SnapshotDto, s => [
        ("name", s.Name), ("volume", s.Volume), ("size", Output.Size(s.Size)), ("used", Output.Size(s.Used)),
        ("referenced", Output.Size(s.Referenced)), ("clones", Output.List(s.Clones)), ("created", Output.Time(s.Created)), ("id", s.Id.ToString()),
    ]);

    private static void Show(ParseResult pr, PoolDto p) => Show(pr, p, Json.PoolDto, p => [
        ("name", p.Name), ("engine", p.Engine), ("health", p.Health), ("error", Output.Str(p.Error)), ("size", Output.Size(p.Size)),
        ("allocated", Output.Size(p.Allocated)), ("free", Output.Size(p.Free)), ("volumes", Output.Str(p.Volumes)), ("folders", Output.Str(p.Folders)),
        ("snapshots", Output.Str(p.Snapshots)), ("capabilities", Output.List(p.Capabilities)), ("created", Output.Time(p.Created)),
    ]);
}
