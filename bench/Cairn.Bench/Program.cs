using Cairn.Bench;

// One subcommand per benchmark; each prints its figures and the ratio the issue asks for.
var rest = args.Length > 1 ? args[1..] : [];
switch (args.Length > 0 ? args[0] : "")
{
    case "clones":
        return ClonesBench.Run(rest);
    case "io":
        return IoBench.Run(rest);
    case "api-clones":
        return ApiClonesBench.Run(rest);
    case "import":
        return ImportBench.Run(rest);
    case "lun":
        return LunBench.Run(rest);
    case "iscsi": return IscsiBench.Run(rest);
    case "qemu": return QemuBench.Run(rest);
    case "lun-zfs":
        return ZfsLunBench.Run(rest);
    case "zfs-clones": return ZfsClonesBench.Run(rest);
    case "store": return StoreBench.Run(rest);
    case "startup": return StartupBench.Run(rest);
    case "blockstorage": return BlockStorageBench.Run(rest);
    case "archive": return ArchiveBench.Run(rest);
    default:
        Console.Error.WriteLine("usage: Cairn.Bench <clones|io|api-clones|import|lun|lun-zfs|iscsi|qemu|zfs-clones|store|startup|blockstorage|archive> [options]");
        return 2;
}
