using Cairn.Cli;

// serve is the managed server's: hand it over before parsing, so that its own options and help apply.
if (args is ["serve", ..]) return CairnCli.Serve(args);
return await CairnCli.RunAsync(args);
